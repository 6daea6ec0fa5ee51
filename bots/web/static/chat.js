// The web chat page: plain JavaScript, no build step. Everything shown is built as DOM nodes
// with textContent, so nothing the model or a user writes is ever parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { conversation: null, streaming: 0, maxFileBytes: 0, maxImageBytes: 0, commands: [] };

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// A small Markdown subset: fenced code blocks, paragraphs, inline `code`, **bold**, *italic*.
function renderInline(parent, text) {
  const pattern = /(`[^`\n]+`|\*\*[^*\n]+\*\*|\*[^*\n]+\*)/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    parent.append(text.slice(last, match.index));
    const token = match[0];
    if (token.startsWith("`")) parent.append(el("code", "", token.slice(1, -1)));
    else if (token.startsWith("**")) parent.append(el("strong", "", token.slice(2, -2)));
    else parent.append(el("em", "", token.slice(1, -1)));
    last = match.index + token.length;
  }
  parent.append(text.slice(last));
}

function renderMarkdown(node, text) {
  node.replaceChildren();
  const parts = text.split(/^(```[^\n]*\n[\s\S]*?(?:\n```|$))/m);
  for (const part of parts) {
    if (!part) continue;
    if (part.startsWith("```")) {
      const body = part.replace(/^```[^\n]*\n/, "").replace(/\n```$/, "");
      const pre = el("pre");
      pre.append(el("code", "", body));
      node.append(pre);
    } else {
      for (const paragraph of part.split(/\n{2,}/)) {
        if (!paragraph.trim()) continue;
        const p = el("p");
        renderInline(p, paragraph.replace(/^\n+|\n+$/g, ""));
        node.append(p);
      }
    }
  }
}

function scrollDown() {
  const main = $("messages");
  main.scrollTop = main.scrollHeight;
}

function addMessage(role, text, status) {
  $("empty").hidden = true;
  const node = el("div", `msg ${role}`);
  node.dataset.role = role;
  const body = el("div", "body");
  node.append(body);
  setText(node, text);
  if (status && status !== "complete") {
    node.classList.add(status);
    const label = status === "in_progress" ? "still being written…" : status;
    node.append(el("div", "status", label));
  }
  $("messages").append(node);
  scrollDown();
  return node;
}

function setText(node, text) {
  const body = node.querySelector(".body");
  if (node.dataset.role === "assistant") renderMarkdown(body, text);
  else body.textContent = text;
}

// A thinking model's reasoning: a folded, dimmed block above the answer, never part of it.
function addThinking(node, text) {
  let block = node.querySelector("details.thinking");
  if (!block) {
    block = el("details", "thinking");
    block.append(el("summary", "", "Thinking…"), el("div", "reasoning"));
    block.dataset.started = String(Date.now());
    node.insertBefore(block, node.querySelector(".body"));
  }
  block.querySelector(".reasoning").textContent += text;
}

function endThinking(node) {
  const block = node && node.querySelector("details.thinking");
  if (!block || block.dataset.ended) return;
  block.dataset.ended = "1";
  const seconds = Math.max(1, Math.round((Date.now() - Number(block.dataset.started)) / 1000));
  block.querySelector("summary").textContent = `Thought for ${seconds} s`;
}

function setStatus(node, text) {
  let status = node.querySelector(".status");
  if (!text) {
    if (status) status.remove();
    return;
  }
  if (!status) {
    status = el("div", "status");
    node.append(status);
  }
  status.textContent = text;
}

// 👍/👎 under a finished answer; a second press replaces the first (POST /api/feedback).
function addRating(node, answerId) {
  if (!answerId || node.querySelector(".rating")) return;
  const box = el("div", "rating");
  for (const [rating, label] of [[1, "👍"], [-1, "👎"]]) {
    const button = el("button", "rate", label);
    button.type = "button";
    button.title = rating > 0 ? "Good answer" : "Bad answer";
    button.dataset.rating = String(rating);
    button.addEventListener("click", async () => {
      const response = await fetch("/api/feedback", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-Kimi-Chat": "1" },
        body: JSON.stringify({ answer: answerId, rating }),
      });
      if (!response.ok) return;
      for (const other of box.children) other.classList.toggle("chosen", other === button);
    });
    box.append(button);
  }
  node.append(box);
}

async function loadSession() {
  const response = await fetch("/api/session", { credentials: "same-origin" });
  if (response.status === 401) {
    location.href = "/login";
    return;
  }
  const info = await response.json();
  $("demo").hidden = !info.demo;
  $("logout").hidden = !info.login_required;
  $("model").textContent = `model ${info.model || info.default_model}`;
  state.maxFileBytes = info.max_file_bytes;
  state.maxImageBytes = info.max_image_bytes || info.max_file_bytes;
  state.commands = info.commands || [];
  showHints();
  state.conversation = info.conversation;
  $("messages").replaceChildren();
  for (const message of info.messages) {
    const node = addMessage(message.role, message.text, message.status);
    if (message.role === "assistant" && message.status === "complete") addRating(node, message.id);
  }
  $("empty").hidden = info.messages.length > 0;
}

// Server-sent events arrive on the POST's response body: "event: NAME\ndata: JSON\n\n".
async function* events(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message";
      let data = "";
      for (const line of frame.split("\n")) {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      yield [name, data ? JSON.parse(data) : {}];
    }
  }
}

async function send(text, files) {
  const form = new FormData();
  form.append("text", text);
  for (const file of files) form.append("file", file, file.name);
  const attached = files.map((f) => `[${fileKind(f)}: ${f.name}]`).join(" ");
  const question = addMessage("user", [text, attached].filter(Boolean).join("\n"));
  let answer = null;
  let answerText = "";
  let response;
  try {
    response = await fetch("/api/messages", {
      method: "POST",
      body: form,
      credentials: "same-origin",
      headers: { "X-Kimi-Chat": "1" },
    });
  } catch (error) {
    addMessage("system", `Could not reach the server: ${error.message}. Your message was not sent.`);
    return;
  }
  if (response.status === 401) {
    location.href = "/login";
    return;
  }
  if (!response.ok) {
    let reason = `${response.status} ${response.statusText}`;
    try {
      reason = (await response.json()).error || reason;
    } catch (_) { /* not JSON */ }
    addMessage("system", reason);
    return;
  }
  const ensureAnswer = () => {
    if (!answer) answer = addMessage("assistant", "");
    return answer;
  };
  try {
    for await (const [name, data] of events(response)) {
      if (name === "thinking") {
        addThinking(ensureAnswer(), data.text);
        scrollDown();
      } else if (name === "delta") {
        answerText += data.text;
        endThinking(ensureAnswer());
        setText(answer, answerText);
        setStatus(answer, "");
        scrollDown();
      } else if (name === "notice") {
        setStatus(ensureAnswer(), data.text);
      } else if (name === "done") {
        endThinking(ensureAnswer());
        setText(answer, data.text);
        setStatus(answer, "");
      } else if (name === "aborted") {
        const node = ensureAnswer();
        setText(node, data.text || "");
        node.classList.add("incomplete");
        setStatus(node, data.reason);
      } else if (name === "reply") {
        addMessage("system", data.text);
      } else if (name === "end") {
        if (state.conversation !== null && data.conversation !== state.conversation) {
          // /reset started a new conversation: show only what happened since.
          for (const node of [...$("messages").children]) {
            if (node !== question && node !== answer && node.dataset.role !== "system") node.remove();
          }
          question.remove();
        }
        state.conversation = data.conversation;
        if (answer && data.answer && !answer.classList.contains("incomplete")) addRating(answer, data.answer);
      }
    }
  } catch (error) {
    addMessage("system", `The connection broke (${error.message}). Reload the page to see the stored answer.`);
  }
}

// The server's commands (GET /api/session): their names under the message box and, while a
// command is being typed, the matching ones with their arguments and what they do.
function showHints() {
  const box = $("hints");
  box.replaceChildren();
  const typed = $("text").value.trimStart();
  if (!typed.startsWith("/")) {
    box.textContent = state.commands.map((c) => `/${c.name}`).join(" ");
    return;
  }
  const word = typed.slice(1).split(/\s/, 1)[0].toLowerCase();
  const complete = /\s/.test(typed.slice(1));
  const matching = state.commands.filter((c) => (complete ? c.name === word : c.name.startsWith(word)));
  for (const command of matching) {
    const line = el("div");
    line.append(el("code", "", `/${command.name}${command.args ? ` ${command.args}` : ""}`), ` — ${command.help}`);
    box.append(line);
  }
}

// What the server will make of a file, to label it: an image Kimi looks at, audio it
// transcribes, or a document (the core decides for real, from the same type and name).
function fileKind(file) {
  if (/^image\/(png|jpeg|webp|gif)$/.test(file.type)) return "image";
  if (file.type.startsWith("audio/")) return "audio";
  return "attached";
}

function selectedFiles() {
  return [...$("file").files];
}

function showFiles() {
  const files = selectedFiles();
  $("files").textContent = files
    .map((f) => `${fileKind(f) === "attached" ? "" : fileKind(f) + ": "}${f.name} (${Math.ceil(f.size / 1024)} KB)`)
    .join(", ");
}

async function submit(event) {
  event.preventDefault();
  const text = $("text").value;
  const files = selectedFiles();
  if (!text.trim() && files.length === 0) return;
  // One question at a time; commands such as /cancel may be sent while an answer streams.
  if (state.streaming > 0 && !text.trim().startsWith("/")) return;
  const limitOf = (f) => (fileKind(f) === "image" ? state.maxImageBytes : state.maxFileBytes);
  const tooBig = files.find((f) => limitOf(f) && f.size > limitOf(f));
  if (tooBig) {
    addMessage("system", `“${tooBig.name}” is larger than ${Math.floor(limitOf(tooBig) / 1048576)} MB, the limit per file.`);
    return;
  }
  state.streaming += 1;
  $("send").disabled = true;
  $("text").value = "";
  $("file").value = "";
  showFiles();
  showHints();
  try {
    await send(text, files);
  } finally {
    state.streaming -= 1;
    $("send").disabled = state.streaming > 0;
    $("text").focus();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("composer").addEventListener("submit", submit);
  $("file").addEventListener("change", showFiles);
  $("text").addEventListener("input", showHints);
  $("text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      $("composer").requestSubmit();
    }
  });
  loadSession().catch((error) => addMessage("system", `Could not load the conversation: ${error.message}`));
});
