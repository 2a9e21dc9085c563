"""Strategy choice on this machine: no TPU, no GPU, so the default strategy on the CPU."""

from components.distribution import choose_distribution


def test_cpu_machine_uses_the_default_strategy_and_no_mixed_precision():
    distribution = choose_distribution(tpu="", mixed_precision=True)
    assert distribution.name == "default"
    assert distribution.replicas == 1
    assert all("CPU" in device for device in distribution.devices)
    assert not distribution.mixed_precision  # float16 only pays off on a GPU
    assert distribution.global_batch_size(128) == 128
