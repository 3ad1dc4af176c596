// The try-it page: save a voice from a clip (uploaded or recorded), then stream Bangla speech from
// POST /synthesize/stream into Web Audio as it arrives. No framework, no build step, no CDN.
"use strict";

const $ = (id) => document.getElementById(id);
// What the page measured, for people (the figures below) and for the browser test.
const state = (window.__tts = {
  startedAt: null, firstSamplesAt: null, doneAt: null, samples: 0, sampleRate: 0, chunks: 0, error: null,
  words: 0, wordsHeard: 0,
});
// Where each scheduled buffer starts: its first sample in the stream and its time on the audio clock
// (a late chunk starts after a gap), so a word's time in the stream maps to when it is heard.
let clock = [];
let highlighting = false;
let clip = null; // { blob, filename } to send: an uploaded file, or a recording encoded as WAV
let controller = null;
let audio = null;

function status(message, isError = false) {
  $("status").textContent = message;
  $("status").className = isError ? "error" : "";
  if (isError) state.error = message;
}

function authHeaders(extra = {}) {
  const key = $("key").value.trim();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

async function problem(response) {
  try {
    const body = await response.json();
    return `${response.status} ${body.error.code}: ${body.error.message}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

async function loadVoices(selectId) {
  const response = await fetch("/voices", { headers: authHeaders() });
  if (!response.ok) {
    status(`Could not list voices: ${await problem(response)}`, true);
    return;
  }
  const select = $("voices");
  select.replaceChildren(new Option("— none —", ""));
  for (const voice of (await response.json()).voices) {
    select.add(new Option(voice.name ? `${voice.name} (${voice.voice_id})` : voice.voice_id, voice.voice_id));
  }
  if (selectId) select.value = selectId;
  await loadDictionaries();
}

async function loadDictionaries() {
  const response = await fetch("/v1/pronunciation-dictionaries", { headers: authHeaders() });
  if (!response.ok) return; // the voices' status line already says what is wrong
  const select = $("dictionary");
  const chosen = select.value;
  select.replaceChildren(new Option("— none —", ""));
  for (const d of (await response.json()).pronunciation_dictionaries) {
    select.add(new Option(`${d.name} (${d.latest_version_id}, ${d.latest_version_rules_num} rules)`, d.id));
  }
  select.value = chosen;
}

function dictionaries() {
  const id = $("dictionary").value;
  return id ? [{ pronunciation_dictionary_id: id }] : [];
}

// What the model will read: the front-end, SSML and the chosen dictionary applied, no audio made.
async function preview() {
  const body = { text: $("text").value, language: "bn", pronunciation_dictionary_locators: dictionaries() };
  const response = await fetch("/normalize", {
    method: "POST",
    body: JSON.stringify(body),
    headers: authHeaders({ "Content-Type": "application/json" }),
  });
  if (!response.ok) {
    $("normalized").textContent = `Cannot read this text: ${await problem(response)}`;
    return false;
  }
  const read = await response.json();
  const rules = read.pronunciation.map((m) => `${m.string_to_replace} → ${m.alias}`).join(", ");
  $("normalized").textContent = `The model reads: ${read.normalized_text}` + (rules ? ` (dictionary: ${rules})` : "");
  return true;
}
$("preview").addEventListener("click", preview);

// ---- reference clips ------------------------------------------------------------------------------
function wavBytes(samples, sampleRate) {
  const view = new DataView(new ArrayBuffer(44 + samples.length * 2));
  const text = (offset, s) => [...s].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVEfmt ");
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, sampleRate, true); view.setUint32(28, sampleRate * 2, true);
  view.setUint16(32, 2, true); view.setUint16(34, 16, true); text(36, "data");
  view.setUint32(40, samples.length * 2, true);
  samples.forEach((x, i) => view.setInt16(44 + i * 2, Math.max(-1, Math.min(1, x)) * 32767, true));
  return new Uint8Array(view.buffer);
}

$("clip").addEventListener("change", () => {
  const file = $("clip").files[0];
  clip = file ? { blob: file, filename: file.name } : null;
  $("clipInfo").textContent = file ? `${file.name}, ${Math.round(file.size / 1024)} KB` : "";
});

let recorder = null;
$("record").addEventListener("click", async () => {
  if (recorder) {
    recorder.stop();
    return;
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const parts = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (e) => parts.push(e.data);
    recorder.onstop = async () => {
      stream.getTracks().forEach((t) => t.stop());
      recorder = null;
      $("record").textContent = "Record";
      // Browsers record WebM/Ogg Opus; the server takes WAV, FLAC, Ogg or MP3: send WAV.
      const ctx = new AudioContext();
      const decoded = await ctx.decodeAudioData(await new Blob(parts).arrayBuffer());
      await ctx.close();
      clip = { blob: new Blob([wavBytes(decoded.getChannelData(0), decoded.sampleRate)], { type: "audio/wav" }), filename: "recording.wav" };
      $("clipInfo").textContent = `recording, ${decoded.duration.toFixed(1)} s`;
    };
    recorder.start();
    $("record").textContent = "Stop recording";
  } catch (err) {
    status(`Could not record: ${err.message}`, true);
  }
});

$("save").addEventListener("click", async () => {
  if (!clip) {
    status("Choose or record a clip first.", true);
    return;
  }
  const form = new FormData();
  form.append("speaker_wav", clip.blob, clip.filename);
  if ($("name").value.trim()) form.append("name", $("name").value.trim());
  status("Cloning the voice…");
  const response = await fetch("/voices", { method: "POST", body: form, headers: authHeaders() });
  if (!response.ok) {
    status(`Could not save the voice: ${await problem(response)}`, true);
    return;
  }
  const voice = await response.json();
  await loadVoices(voice.voice_id);
  status(`Saved ${voice.name || voice.voice_id} (${voice.reference_seconds.toFixed(1)} s of reference).`);
});

$("refresh").addEventListener("click", () => loadVoices($("voices").value));

// ---- streaming playback -----------------------------------------------------------------------------
function base64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

async function requestBody() {
  const body = { text: $("text").value, language: "bn", pronunciation_dictionary_locators: dictionaries() };
  if ($("once").checked) {
    if (!clip) throw new Error("choose or record a clip to use once");
    body.speaker_wav = base64(new Uint8Array(await clip.blob.arrayBuffer()));
  } else if ($("voices").value) {
    body.voice_id = $("voices").value;
  } else {
    throw new Error("pick a saved voice, or tick 'use the clip once'");
  }
  return body;
}

function show() {
  const seconds = state.sampleRate ? state.samples / state.sampleRate : 0;
  $("ttfa").textContent = state.firstSamplesAt ? `${Math.round(state.firstSamplesAt - state.startedAt)} ms` : "—";
  $("seconds").textContent = seconds ? `${seconds.toFixed(2)} s` : "—";
  const end = state.doneAt ?? performance.now();
  $("rtf").textContent = seconds ? ((end - state.startedAt) / 1000 / seconds).toFixed(3) : "—";
}

$("speak").addEventListener("click", async () => {
  let body;
  try {
    body = await requestBody();
  } catch (err) {
    status(err.message, true);
    return;
  }
  preview(); // shown beside the audio; the synthesis does not wait for it
  Object.assign(state, { startedAt: performance.now(), firstSamplesAt: null, doneAt: null, samples: 0, chunks: 0, error: null, words: 0, wordsHeard: 0 });
  clock = [];
  $("words").textContent = "";
  audio = audio || new AudioContext(); // made on a click, so the browser lets it play
  await audio.resume();
  controller = new AbortController();
  $("speak").disabled = true;
  $("stop").disabled = false;
  status("Synthesizing…");
  try {
    // A saved voice: OpenAI's speech route as SSE, with each piece's word times after its audio
    // (the words light up as they are heard); a clip used once: the WAV stream.
    const saved = body.voice_id !== undefined;
    const response = await fetch(saved ? "/v1/audio/speech" : "/synthesize/stream", {
      method: "POST",
      body: JSON.stringify(saved ? speechBody(body) : body),
      headers: authHeaders({ "Content-Type": "application/json" }),
      signal: controller.signal,
    });
    if (!response.ok) throw new Error(await problem(response));
    await (saved ? playEvents(response.body.getReader()) : play(response.body.getReader()));
    state.doneAt = performance.now();
    status("Done.");
  } catch (err) {
    status(err.name === "AbortError" ? "Stopped." : `Synthesis failed: ${err.message}`, err.name !== "AbortError");
  } finally {
    show();
    $("speak").disabled = false;
    $("stop").disabled = true;
  }
});

$("stop").addEventListener("click", () => {
  if (controller) controller.abort();
  if (live) live.ws.close(); // barge-in: the server stops generating at once
});

// PCM16 arriving in pieces of any length: whole samples out, an odd byte kept for the next piece.
function pcm16() {
  let carry = null;
  return (bytes) => {
    if (carry !== null) {
      bytes = new Uint8Array([carry, ...bytes]);
      carry = null;
    }
    if (bytes.length % 2) {
      carry = bytes[bytes.length - 1];
      bytes = bytes.subarray(0, bytes.length - 1);
    }
    return bytes;
  };
}

// A WAV with an open length: a 44-byte header, then PCM16 mono as the server generates it.
async function play(reader) {
  let header = new Uint8Array(0);
  const whole = pcm16();
  let at = audio.currentTime + 0.05;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    let bytes = value;
    if (header.length < 44) {
      const need = 44 - header.length;
      header = new Uint8Array([...header, ...bytes.subarray(0, need)]);
      bytes = bytes.subarray(need);
      if (header.length < 44) continue;
      state.sampleRate = new DataView(header.buffer).getUint32(24, true);
    }
    bytes = whole(bytes);
    if (bytes.length) at = schedule(bytes, at);
  }
}

function speechBody(body) {
  return {
    model: "tts-1", input: body.text, voice: body.voice_id, language: "bn",
    response_format: "pcm", stream_format: "sse", timestamps: true,
    pronunciation_dictionary_locators: body.pronunciation_dictionary_locators,
  };
}

// OpenAI's speech SSE: PCM16 mono at 24 kHz in speech.audio.delta events; with timestamps, each text
// piece's words in a speech.audio.timestamps event after its audio.
async function playEvents(reader) {
  state.sampleRate = 24000;
  const decoder = new TextDecoder();
  let text = "";
  const whole = pcm16();
  let at = audio.currentTime + 0.05;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    text += decoder.decode(value, { stream: true });
    for (let end = text.indexOf("\n\n"); end >= 0; end = text.indexOf("\n\n")) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      if (!block.startsWith("data: ")) continue;
      const event = JSON.parse(block.slice(6));
      if (event.type === "speech.audio.delta") {
        const bytes = whole(Uint8Array.from(atob(event.audio), (c) => c.charCodeAt(0)));
        if (bytes.length) at = schedule(bytes, at);
      } else if (event.type === "speech.audio.timestamps") {
        showWords(event.words);
      }
    }
  }
}

function showWords(words) {
  const line = $("words");
  for (const w of words) {
    const span = document.createElement("span");
    span.textContent = w.word;
    span.dataset.start = w.start;
    span.dataset.end = w.end;
    line.append(span, " ");
    state.words += 1;
  }
  if (!highlighting) {
    highlighting = true;
    requestAnimationFrame(highlight);
  }
}

// When `seconds` into the stream is heard, on the audio clock.
function heardAt(seconds) {
  const sample = seconds * state.sampleRate;
  let entry = clock[0];
  for (const e of clock) if (e.sample <= sample) entry = e;
  return entry.time + (sample - entry.sample) / state.sampleRate;
}

function highlight() {
  const now = audio.currentTime;
  let waiting = false;
  for (const span of $("words").children) {
    const end = heardAt(+span.dataset.end);
    span.classList.toggle("now", heardAt(+span.dataset.start) <= now && now < end);
    if (now >= end && !span.classList.contains("heard")) {
      span.classList.add("heard");
      state.wordsHeard += 1;
    }
    waiting ||= now < end;
  }
  highlighting = waiting && !(controller && controller.signal.aborted);
  if (highlighting) requestAnimationFrame(highlight);
}

// Queue PCM16 mono bytes on the Web Audio clock after `at`; returns where the next chunk starts.
function schedule(bytes, at) {
  const pcm = new Int16Array(bytes.slice().buffer);
  const buffer = audio.createBuffer(1, pcm.length, state.sampleRate);
  const channel = buffer.getChannelData(0);
  for (let i = 0; i < pcm.length; i++) channel[i] = pcm[i] / 32768;
  const source = audio.createBufferSource();
  source.buffer = buffer;
  source.connect(audio.destination);
  const start = Math.max(at, audio.currentTime + 0.02);
  source.start(start);
  clock.push({ sample: state.samples, time: start });
  if (state.firstSamplesAt === null) state.firstSamplesAt = performance.now();
  state.samples += pcm.length;
  state.chunks += 1;
  show();
  return start + buffer.duration;
}

// ---- live mode: the text streams over ElevenLabs' WebSocket protocol as it is typed -------------
// Only what is appended is sent (an edit earlier in the text is not re-spoken); a browser cannot set
// headers on a WebSocket, so the key goes in the first message (xi_api_key), as the protocol allows.
let live = null; // { ws, sent, at }

function startLive() {
  const voice = $("voices").value;
  if (!voice) {
    status("Live mode speaks with a saved voice: pick one.", true);
    $("live").checked = false;
    return;
  }
  audio = audio || new AudioContext();
  audio.resume();
  state.sampleRate = 24000;
  Object.assign(state, { startedAt: performance.now(), firstSamplesAt: null, doneAt: null, samples: 0, chunks: 0, error: null });
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const url = `${scheme}//${location.host}/v1/text-to-speech/${encodeURIComponent(voice)}/stream-input?output_format=pcm_24000&language_code=bn`;
  const ws = new WebSocket(url);
  live = { ws, sent: 0, at: 0 };
  ws.onopen = () => {
    const first = { text: " ", pronunciation_dictionary_locators: dictionaries() };
    const key = $("key").value.trim();
    if (key) first.xi_api_key = key;
    ws.send(JSON.stringify(first));
    status("Live: type, and each sentence is spoken when it ends (। ? !).");
    sendTyped();
  };
  ws.onmessage = (event) => {
    const m = JSON.parse(event.data);
    if (m.audio) {
      const raw = atob(m.audio);
      const bytes = new Uint8Array(raw.length);
      for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
      live.at = schedule(bytes, live.at);
    } else if (m.error) {
      status(`Live: ${m.error}: ${m.message}`, true);
    }
  };
  ws.onclose = () => {
    if (live && live.ws === ws) live = null;
    $("live").checked = false;
  };
}

function sendTyped() {
  if (!live || live.ws.readyState !== WebSocket.OPEN) return;
  const text = $("text").value;
  if (text.length < live.sent) live.sent = text.length; // deleted text: go on from here
  if (text.length > live.sent) {
    live.ws.send(JSON.stringify({ text: text.slice(live.sent) }));
    live.sent = text.length;
  }
}

$("live").addEventListener("change", () => {
  if ($("live").checked) startLive();
  else if (live) live.ws.send(JSON.stringify({ text: "" })); // speak the rest, then the server closes
});
$("text").addEventListener("input", sendTyped);

const keyRequired = document.body.dataset.auth === "required";
$("auth").hidden = !keyRequired;
$("key").value = localStorage.getItem("tts-key") || "";
$("key").addEventListener("change", () => {
  localStorage.setItem("tts-key", $("key").value.trim());
  if ($("key").value.trim()) loadVoices();
});
if (!keyRequired || $("key").value.trim()) loadVoices();
else status("This server needs an API key: enter it above.");
