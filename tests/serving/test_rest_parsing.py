"""Strict REST body parsing (docs/serving.md, "Errors"), inline and in a decoding process.

Server tests post to the toy model (saved_models.py: `x` float [-1, 3]; `two_inputs`: `a`
float [-1], `b` int64 [-1, 2]; `from_examples`). Unit tests compare what a body decodes to in a
decoding process with what it decodes to inline.
"""

import asyncio
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from saved_models import toy_scores
from tensorflow.core.example import example_pb2
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from serving import chunked_pickle
from serving.body_decoding import JsonBodyDecoder
from serving.errors import ServingError, Unavailable
from serving.examples import examples_from_json
from serving.json_arrays import BOOLEANS, JsonList, RowColumns
from serving.rest_tensors import predict_inputs

INT64_RANGE = "outside [-9223372036854775808, 9223372036854775807]"
# Bodies over serving.body_decoding.INLINE_BODY_BYTES are decoded in a process; JSON allows
# any amount of whitespace, which pads a small body past it.
PADDING = b" " * 300_000


def _error(rest, path: str, body: bytes, status: int = 400) -> str:
    response = rest.post(path, content=body)
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_a_boolean_among_numbers_is_refused_naming_the_input(rest):
    error = _error(rest, "/v1/models/toy:predict", b'{"instances": [[true, 1, 2]]}')
    assert "input 'x'" in error and "booleans among numbers" in error


def test_booleans_for_a_float_input_are_refused(rest):
    error = _error(rest, "/v1/models/toy:predict", b'{"instances": [[true, false, true]]}')
    assert "input 'x' expects DT_FLOAT [-1, 3], got bool values" in error


def test_a_boolean_in_a_named_instance_is_refused(rest):
    body = {
        "signature_name": "two_inputs",
        "instances": [{"a": True, "b": [1, 2]}, {"a": 2.0, "b": [3, 4]}],
    }
    error = _error(rest, "/v1/models/toy:predict", json.dumps(body).encode())
    assert "input 'a'" in error and "booleans among numbers" in error


@pytest.mark.parametrize(
    "b",
    [
        b"[[1, 100000000000000000000000]]",  # orjson reads it as a float
        b"[[1, 9223372036854775808]]",  # fits uint64
        b"[[-1, 9223372036854775808]]",  # numpy mixes them as floats
        b"[[1, -9223372036854775809]]",  # a float of -2**63 once read
    ],
)
def test_integers_beyond_int64_are_named_out_of_range(rest, b):
    body = b'{"signature_name": "two_inputs", "inputs": {"a": [1.0], "b": ' + b + b"}}"
    error = _error(rest, "/v1/models/toy:predict", body)
    assert "input 'b'" in error and INT64_RANGE in error


def test_a_fraction_for_an_int_input_is_a_dtype_error_not_a_range_error(rest):
    body = b'{"signature_name": "two_inputs", "inputs": {"a": [1.0], "b": [[1, 2.5]]}}'
    error = _error(rest, "/v1/models/toy:predict", body)
    assert "input 'b' expects DT_INT64 [-1, 2], got float64 values" in error


@pytest.mark.parametrize(
    "path, body",
    [
        ("/v1/models/toy:predict", {"instances": [[1.0, 2.0, 3.0]] * 1025}),
        ("/v1/models/toy:predict", {"inputs": [[1.0, 2.0, 3.0]] * 1025}),
        ("/v1/models/toy:classify", {"examples": [{"x": [1.0, 2.0, 3.0]}] * 1025}),
    ],
)
def test_more_examples_than_max_batch_instances_are_refused(rest, path, body):
    error = _error(rest, path, json.dumps(body).encode())
    assert "1025 examples" in error and "--max-batch-instances 1024; split it" in error


def test_an_unparsable_tf_example_of_non_utf8_bytes_is_a_client_error(rest):
    # TF's error quotes the bytes (0xff): its binding used to fail decoding that message.
    body = b'{"signature_name": "from_examples", "instances": [{"b64": "/wBnYXJiYWdl"}]}'
    error = _error(rest, "/v1/models/toy:predict", body)
    assert "Could not parse example input" in error


def test_classify_refuses_a_boolean_among_a_features_numbers(rest):
    body = b'{"examples": [{"x": [1.0, true, 2.0]}]}'
    error = _error(rest, "/v1/models/toy:classify", body)
    assert "feature 'x': booleans have no tf.Example type" in error


def test_classify_refuses_an_integer_beyond_int64(rest):
    body = b'{"examples": [{"x": [1, 9223372036854775808, 2]}]}'
    error = _error(rest, "/v1/models/toy:classify", body)
    assert "feature 'x'" in error and INT64_RANGE in error


@pytest.mark.parametrize(
    "path, body",
    [
        (
            "/v1/models/toy:predict",
            {"instances": [{"x" * 10_000: [1.0, 2.0, 3.0]}]},
        ),
        ("/v1/models/toy:classify", {"examples": [{"f" * 10_000: [True]}]}),
        ("/v1/models/toy:predict", {"instances": [[1, 2, "s" * 10_000]]}),
    ],
)
def test_a_huge_name_or_value_is_echoed_cut_to_256_bytes(rest, path, body):
    error = _error(rest, path, json.dumps(body).encode())
    assert "bytes)" in error and len(error.encode()) < 256 + 200, error


def test_a_large_body_keeps_its_nan_tokens(rest):
    body = b'{"instances": [[NaN, 1.0, 2.0], [1.0, 2.0, 3.0]]' + PADDING + b"}"
    response = rest.post("/v1/models/toy:predict", content=body)
    assert response.status_code == 200, response.text
    predictions = json.loads(response.text)["predictions"]
    assert all(np.isnan(score) for score in predictions[0]["scores"])
    np.testing.assert_allclose(
        predictions[1]["scores"], toy_scores(np.array([[1.0, 2.0, 3.0]]), 1)[0], rtol=1e-5
    )


def test_a_large_body_nested_too_deep_is_refused_at_once(rest):
    body = b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + PADDING + b"}"
    started = time.monotonic()
    error = _error(rest, "/v1/models/toy:predict", body)
    assert "deeper than 1024" in error
    assert time.monotonic() - started < 5


def test_a_large_body_that_is_no_object_is_refused_showing_its_start(rest):
    error = _error(rest, "/v1/models/toy:predict", b"[1, 2, 3]" + PADDING)
    assert error.startswith("the body must be a JSON object, got [1, 2, 3]")
    assert "bytes)" in error


def _signature(**inputs: tuple[int, list[int]]) -> meta_graph_pb2.SignatureDef:
    signature = meta_graph_pb2.SignatureDef()
    for name, (dtype, dims) in inputs.items():
        info = signature.inputs[name]
        info.name, info.dtype = f"{name}:0", dtype
        for size in dims:
            info.tensor_shape.dim.add().size = size
    return signature


SIGNATURES = [
    _signature(x=(types_pb2.DT_FLOAT, [-1, 3])),
    _signature(a=(types_pb2.DT_FLOAT, [-1]), b=(types_pb2.DT_INT64, [-1, 2])),
    _signature(examples=(types_pb2.DT_STRING, [-1])),
    _signature(flag=(types_pb2.DT_BOOL, [-1])),
    _signature(pixels=(types_pb2.DT_UINT8, [-1, 2])),
]
BODIES = [
    b'{"instances": [[1.5, 2, 3], [4, 5, 6]]}',
    b'{"instances": [[true, 1, 2]]}',
    b'{"instances": [true, false, true]}',
    b'{"instances": [[1, 2, 3], [1]]}',
    b'{"instances": [[1, null, 3]]}',
    b'{"instances": [["a", 1, 2]]}',
    b'{"instances": ["a", "b"]}',
    b'{"instances": [{"b64": "YWJj"}, {"b64": "/wBn"}]}',
    b'{"instances": [{"b64": "***"}]}',
    b'{"instances": [{"a": 1.0, "b": [1, 2]}, {"a": 2, "b": [3, 4]}]}',
    b'{"instances": [{"a": 1.0, "b": [1, 2]}, {"a": 2}]}',
    b'{"instances": [{"a": true, "b": [1, 2]}, {"a": 2.0, "b": [3, 4]}]}',
    b'{"instances": [[NaN, Infinity, -Infinity]]}',
    b'{"instances": []}',
    b'{"instances": "abc"}',
    b'{"instances": [[1, 2, 3]], "extra": 1}',
    b'{"instances": [' + b"[1, 2, 3], " * 1100 + b"[1, 2, 3]]}",
    b'{"inputs": {"a": [1.0, NaN], "b": [[1, 2], [3, 9223372036854775808]]}}',
    b'{"inputs": [[1, 2, 3]]}',
    b'{"inputs": {"b": [[1, 100000000000000000000000]]}}',
    b'{"inputs": {"pixels": [[0, 255], [256, 1]]}}',
    b'{"inputs": {"pixels": [[-1, 2]]}}',
    b'{"inputs": {"flag": true}}',
    b'{"inputs": {"examples": [[[[["deep"]]]]]}}',
    b"[1, 2]",
    b'{"instances": [1,',
    b'{"instances": ' + b"[" * 2000 + b"]" * 2000 + b"}",
]


def _outcome(decoder: JsonBodyDecoder, raw: bytes, signature, max_instances: int = 1024):
    """What predict_inputs makes of `raw` decoded by `decoder`: arrays as (dtype, shape, repr
    of the values: NaN equals NaN there), or the error."""
    try:
        body = asyncio.run(decoder.loads(raw))
        inputs, row_format = predict_inputs(body, signature, max_instances)
    except ServingError as error:
        return type(error).__name__, error.message
    return row_format, {
        name: (a.dtype.str, a.shape, repr(a.tolist())) for name, a in sorted(inputs.items())
    }


@pytest.fixture(scope="module")
def decoders():
    inline, elsewhere = JsonBodyDecoder(), JsonBodyDecoder(inline_body_bytes=0)
    yield inline, elsewhere
    inline.close()
    elsewhere.close()


def test_a_process_decodes_bodies_to_the_inline_arrays_and_errors(decoders):
    inline, elsewhere = decoders
    differ = []
    for raw in BODIES:
        for signature in SIGNATURES:
            expected, got = _outcome(inline, raw, signature), _outcome(elsewhere, raw, signature)
            if got != expected:
                differ.append((raw[:60], list(signature.inputs), expected, got))
    assert not differ, differ
    # And the outcomes are the right ones, checked on a few.
    x, two = SIGNATURES[0], SIGNATURES[1]
    assert _outcome(elsewhere, BODIES[0], x)[1]["x"][:2] == ("<f4", (2, 3))
    assert "booleans among numbers" in _outcome(elsewhere, BODIES[1], x)[1]
    assert "rows of different lengths" in _outcome(elsewhere, BODIES[3], x)[1]
    assert _outcome(elsewhere, BODIES[9], two)[1]["b"] == ("<i8", (2, 2), "[[1, 2], [3, 4]]")
    assert INT64_RANGE in _outcome(elsewhere, BODIES[17], two)[1]


def test_a_process_returns_large_bodies_whole(decoders):
    inline, elsewhere = decoders
    strings = {"instances": [f"s{i}" for i in range(30_000)]}
    named = {"instances": [{"a": float(i), "b": [i, -i]} for i in range(6_000)]}
    for body, signature in ((strings, SIGNATURES[2]), (named, SIGNATURES[1])):
        raw = json.dumps(body).encode()
        expected = _outcome(inline, raw, signature, 100_000)
        assert isinstance(expected[1], dict), expected
        assert _outcome(elsewhere, raw, signature, 100_000) == expected
    examples = {"context": {"c": ["x"]}, "examples": [{"v": [i, 2 * i]} for i in range(8_000)]}
    raw = json.dumps(examples).encode()
    serialized = [
        example_pb2.Example.FromString(e)  # a map's order in the bytes varies
        for e in examples_from_json(asyncio.run(elsewhere.loads(raw)), 10_000)
    ]
    assert len(serialized) == 8_000
    assert serialized == [
        example_pb2.Example.FromString(e)
        for e in examples_from_json(asyncio.run(inline.loads(raw)), 10_000)
    ]
    assert list(serialized[7].features.feature["v"].int64_list.value) == [7, 14]


def test_the_decoding_process_imports_neither_tensorflow_nor_grpc():
    code = (
        "import sys, serving.decoding_process; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'grpc'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_decoding_process_that_died_idle_is_replaced_for_the_next_body():
    decoder = JsonBodyDecoder(inline_body_bytes=0, processes=1)
    try:
        assert asyncio.run(decoder.loads(b'{"inputs": [1]}'))["inputs"].tolist() == [1]
        (pid,) = decoder.process_ids()
        os.kill(pid, signal.SIGKILL)
        assert asyncio.run(decoder.loads(b'{"inputs": [2]}'))["inputs"].tolist() == [2]
        assert len(decoder.process_ids()) == 1 and decoder.process_ids() != [pid]
    finally:
        decoder.close()
    assert decoder.process_ids() == []


def _cpu_ticks(pid: int) -> int:
    """The CPU time a process has used, in clock ticks (/proc/PID/stat: utime, stime)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def test_a_body_whose_decoding_process_dies_is_decoded_by_another():
    decoder = JsonBodyDecoder(inline_body_bytes=0, processes=1)
    large = json.dumps({"inputs": [[0.25] * 1000] * 3000}).encode()  # 18 MB: about 1 s

    async def killed_while_decoding():
        (pid,) = decoder.process_ids()
        idle = _cpu_ticks(pid)
        decoding = asyncio.ensure_future(decoder.loads(large))
        while _cpu_ticks(pid) < idle + 10:  # 0.1 s into the parse
            await asyncio.sleep(0.01)
        os.kill(pid, signal.SIGKILL)
        return await asyncio.wait_for(decoding, 60), pid

    try:
        asyncio.run(decoder.loads(b'{"inputs": [1]}'))  # the process is started
        body, killed = asyncio.run(killed_while_decoding())
        assert body["inputs"].shape == (3000, 1000) and (body["inputs"] == 0.25).all()
        assert decoder.process_ids() != [killed]
    finally:
        decoder.close()


def test_a_body_that_stops_every_decoding_process_gets_503(monkeypatch):
    def dies(_process, _raw):
        raise EOFError("the decoding process closed its output")

    monkeypatch.setattr("serving.body_decoding._DecodingProcess.decode", dies)
    decoder = JsonBodyDecoder(inline_body_bytes=0, processes=1)
    try:
        with pytest.raises(Unavailable) as refused:
            asyncio.run(decoder.loads(b'{"inputs": [1]}'))
        assert Unavailable.http_status == 503 and "retry" in refused.value.message
    finally:
        decoder.close()


def test_a_sliced_pickle_keeps_lists_dicts_arrays_and_their_attributes():
    marked = JsonList.of([[True, 1]] * 30_000, BOOLEANS)
    columns = RowColumns(a=np.arange(5), b=[{"k": "v"}] * 25_000)
    columns.count = 25_000
    value = {"marked": marked, "columns": columns, "keys": {str(i): i for i in range(50_000)}}
    stream, buffers = chunked_pickle.dumps(value)
    assert stream.count(pickle.PROTO + bytes([pickle.HIGHEST_PROTOCOL])) > 3  # nested slices
    assert [bytes(b) for b in buffers] == [np.arange(5).tobytes()]  # out of the pickle
    back = chunked_pickle.loads(stream, [bytearray(b) for b in buffers])
    assert back["marked"] == marked and back["marked"].problem == BOOLEANS
    assert type(back["columns"]) is RowColumns and back["columns"].count == 25_000
    assert back["columns"]["b"] == columns["b"]
    assert back["columns"]["a"].tolist() == [0, 1, 2, 3, 4]
    assert back["keys"] == value["keys"]


def _wakeups_while(read) -> int:
    """How often a thread that sleeps 1 ms gets to run while another runs `read()`."""
    done, wakeups = threading.Event(), 0

    def reading() -> None:
        read()
        done.set()

    reader = threading.Thread(target=reading)
    reader.start()
    while not done.is_set():
        time.sleep(0.001)
        wakeups += 1
    reader.join()
    return wakeups


def test_other_threads_run_while_a_sliced_pickle_is_read():
    # Strings: no garbage collection (whose Python callbacks, XLA's, let threads switch)
    # interrupts reading them; a plain pickle of these is one C call of about 0.2 s.
    body = {"instances": [f"s{i}" for i in range(2_000_000)]}
    whole, (sliced, _) = pickle.dumps(body), chunked_pickle.dumps(body)
    # Relative to the plain pickle's: on a loaded machine the sleeping thread also wakes
    # between the reader's C calls (a full `make test` once saw 4 for the plain one).
    plain = _wakeups_while(lambda: pickle.loads(whole))
    assert _wakeups_while(lambda: chunked_pickle.loads(sliced)) > max(10, 3 * plain)
