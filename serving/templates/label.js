// The labelling page (serving/labelling.py): shows the hardest unlabelled example of the
// queue, posts the chosen label to POST /v1/models/<model>:feedback with "source": "page",
// and fetches the queue again. Every value is written as text, never as HTML.
"use strict";

const body = document.body;
const model = body.dataset.model;
const limit = Number(body.dataset.limit) || 10;
const status = document.getElementById("status");
const section = document.getElementById("example");
const shown = document.getElementById("shown");
const answer = document.getElementById("answer");
const choices = document.getElementById("choices");
const numberForm = document.getElementById("number");
const valueInput = document.getElementById("value");
const done = document.getElementById("done");
let current = null;
let busy = false;

function say(text, state) {
  status.textContent = text;
  body.dataset.status = state;
}

async function errorText(response) {
  try {
    const answer = await response.json();
    return answer.error || `${response.status} ${response.statusText}`;
  } catch (_) {
    return `${response.status} ${response.statusText}`;
  }
}

function cell(row, tag, text) {
  const element = document.createElement(tag);
  element.textContent = text;
  row.appendChild(element);
}

function showExample(example) {
  shown.replaceChildren();
  if (example.example.image) {
    const image = document.createElement("img");
    image.src = example.example.image;
    image.alt = `example ${example.index} of request ${example.request_id}`;
    shown.appendChild(image);
  } else {
    const table = document.createElement("table");
    for (const [name, value] of example.example.table || []) {
      const row = document.createElement("tr");
      cell(row, "th", name);
      cell(row, "td", value);
      table.appendChild(row);
    }
    shown.appendChild(table);
  }
  const margin = example.margin === null ? "" : `, margin ${example.margin.toFixed(3)}`;
  answer.textContent =
    `Version ${example.version} answered ${example.prediction}${margin}` +
    (example.arm ? ` (arm ${example.arm})` : "") + `. Request ${example.request_id}, ` +
    `example ${example.index}.`;
  choices.replaceChildren();
  numberForm.hidden = example.choices !== null;
  if (example.choices !== null) {
    example.choices.forEach((choice, position) => {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.label = String(choice.id);
      if (position < 9) {
        const key = document.createElement("kbd");
        key.textContent = String(position + 1);
        button.appendChild(key);
      }
      button.appendChild(document.createTextNode(choice.name));
      button.addEventListener("click", () => label(choice.id, choice.name));
      choices.appendChild(button);
    });
  } else {
    valueInput.value = "";
    valueInput.focus();
  }
  section.dataset.requestId = example.request_id;
  section.dataset.index = String(example.index);
  section.hidden = false;
}

async function load() {
  let response;
  try {
    response = await fetch(`/label/${encodeURIComponent(model)}/queue?limit=${limit}`, {
      cache: "no-store",
    });
  } catch (error) {
    say(`Cannot reach the server: ${error}`, "error");
    return;
  }
  if (!response.ok) {
    say(await errorText(response), "error");
    return;
  }
  const queue = await response.json();
  current = queue.examples[0] || null;
  if (current === null) {
    section.hidden = true;
    delete section.dataset.requestId;
    say("Nothing left to label: every logged example has a label.", "empty");
    return;
  }
  showExample(current);
  say(`${queue.examples.length} examples waiting (the hardest first).`, "ready");
}

async function label(value, name) {
  if (busy || current === null) return;
  busy = true;
  const labelled = current;
  say(`Storing the label of request ${labelled.request_id}…`, "loading");
  try {
    const response = await fetch(`/v1/models/${encodeURIComponent(model)}:feedback`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        request_id: labelled.request_id,
        index: labelled.index,
        label: value,
        source: "page",
      }),
    });
    if (!response.ok) {
      say(await errorText(response), "error");
      return;
    }
    body.dataset.labelled = String(Number(body.dataset.labelled) + 1);
    done.textContent =
      `Labelled ${body.dataset.labelled} this visit; the last, request ` +
      `${labelled.request_id}, as ${name}.`;
    await load();
  } catch (error) {
    say(`Cannot reach the server: ${error}`, "error");
  } finally {
    busy = false;
  }
}

numberForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const value = Number(valueInput.value);
  if (valueInput.value === "" || !Number.isFinite(value)) return;
  label(value, valueInput.value);
});

document.addEventListener("keydown", (event) => {
  if (current === null || current.choices === null || event.target === valueInput) return;
  if (event.altKey || event.ctrlKey || event.metaKey) return;
  const position = Number(event.key) - 1;
  if (Number.isInteger(position) && position >= 0 && position < Math.min(9, current.choices.length)) {
    const choice = current.choices[position];
    label(choice.id, choice.name);
  }
});

load();
