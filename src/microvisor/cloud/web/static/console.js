// The web console's one script: the device list refreshed every 2 s, a device's live log and console,
// typing at the console, and a question before a form marked data-confirm is sent. Everything that came
// from a device is placed with textContent, never as HTML.
"use strict";

(function () {
  const MAX_LINES = 1000; // log lines kept on the device page
  const MAX_CONSOLE = 65536; // characters of console output kept
  const REFRESH_MS = 2000;

  function element(name, value, className) {
    const made = document.createElement(name);
    made.textContent = value == null ? "" : String(value);
    if (className) {
      made.className = className;
    }
    return made;
  }

  // 2026-01-31T12:00:00.123Z -> 2026-01-31 12:00:00 (UTC, as the server writes times)
  function shownTime(iso) {
    return iso ? String(iso).replace("T", " ").replace(/(\.\d+)?Z$/, "") : "never";
  }

  function timeElement(iso) {
    const made = element("time", shownTime(iso));
    if (iso) {
      made.dateTime = iso;
    }
    return made;
  }

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  // --- the device list ---------------------------------------------------------------------------
  function deviceRow(device) {
    const row = document.createElement("tr");
    const sid = element("a", device.sid, "sid");
    sid.href = "/devices/" + encodeURIComponent(device.sid);
    const online = device.connected ? element("span", "online", "state ok") : element("span", "offline", "state off");
    let target = device.target_app || "none";
    if (device.target_name) {
      target = device.target_name + " (" + device.target_app + ")";
    }
    let update = device.update_status;
    if (update === "error") {
      update += " (error " + device.update_error_code + ")";
    }
    const seen = device.connected ? "now" : shownTime(device.last_seen);
    for (const value of [sid, device.unique_name || "", online, target, device.reported_app || "none", update, seen]) {
      const cell = document.createElement("td");
      if (value instanceof Node) {
        cell.append(value);
      } else {
        cell.textContent = value;
      }
      row.append(cell);
    }
    return row;
  }

  async function refreshDevices() {
    const status = document.getElementById("refreshed");
    try {
      const response = await fetch("/console/api/devices", {
        headers: { Accept: "application/json" }, cache: "no-store", credentials: "same-origin",
      });
      if (response.status === 401) {
        window.location.assign("/signin");
        return;
      }
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      const data = await response.json();
      document.querySelector("#devices tbody").replaceChildren(...data.devices.map(deviceRow));
      document.getElementById("no-devices").hidden = data.devices.length > 0;
      document.getElementById("truncated").hidden = !data.truncated;
      status.textContent = "Refreshed at " + new Date().toLocaleTimeString() + ", again every 2 s.";
      status.dataset.refreshes = String(Number(status.dataset.refreshes || 0) + 1);
    } catch (error) {
      status.textContent = "Could not refresh (" + error.message + "); trying again.";
    }
    window.setTimeout(refreshDevices, REFRESH_MS);
  }

  // --- a device: its live log and console ------------------------------------------------------
  function atBottom(box) {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 24;
  }

  function streamState(source, status, what) {
    source.addEventListener("open", function () {
      status.textContent = what + ": live.";
    });
    source.addEventListener("error", function () {
      status.textContent = source.readyState === EventSource.CLOSED
        ? what + ": the stream stopped; reload the page (or sign in again)."
        : what + ": reconnecting…";
    });
  }

  function followLog(sid, after) {
    const list = document.getElementById("log");
    const status = document.getElementById("log-status");
    const source = new EventSource("/console/api/devices/" + encodeURIComponent(sid) + "/logs?after=" +
      encodeURIComponent(after));
    streamState(source, status, "Log");
    list.scrollTop = list.scrollHeight;
    source.addEventListener("log", function (event) {
      const line = JSON.parse(event.data);
      const follow = atBottom(list);
      const item = document.createElement("li");
      item.dataset.sequence = String(line.sequence);
      item.append(timeElement(line.date_created), " ", element("span", line.text, "text"));
      list.append(item);
      while (list.children.length > MAX_LINES) {
        list.firstElementChild.remove();
      }
      if (follow) {
        list.scrollTop = list.scrollHeight;
      }
    });
  }

  // Control characters are shown as ^X (as `microvisor console` shows them), never obeyed.
  function visible(text) {
    return text.replace(/\r\n/g, "\n").replace(/[\x00-\x08\x0b-\x1f\x7f]/g, function (c) {
      return "^" + String.fromCharCode(c.charCodeAt(0) ^ 0x40);
    });
  }

  function followConsole(sid) {
    const output = document.getElementById("console-output");
    const status = document.getElementById("console-stream");
    const decoder = new TextDecoder();
    const source = new EventSource("/console/api/devices/" + encodeURIComponent(sid) + "/console");
    streamState(source, status, "Console");
    source.addEventListener("console", function (event) {
      const piece = JSON.parse(event.data);
      const bytes = Uint8Array.from(atob(piece.payload), function (c) { return c.charCodeAt(0); });
      const text = output.textContent + visible(decoder.decode(bytes, { stream: true }));
      output.textContent = text.length > MAX_CONSOLE ? text.slice(-MAX_CONSOLE) : text;
      output.scrollTop = output.scrollHeight;
    });
  }

  function consoleInput() {
    const form = document.getElementById("console-input");
    const status = document.getElementById("console-status");
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const body = new URLSearchParams(new FormData(form));
      try {
        const response = await fetch(form.action, {
          method: "POST", body: body, credentials: "same-origin", headers: { Accept: "application/json" },
        });
        if (response.status === 202) {
          form.elements.line.value = "";
          status.textContent = "Sent.";
        } else {
          const data = await response.json().catch(function () { return {}; });
          status.textContent = data.message || "Not sent: HTTP " + response.status + ".";
        }
      } catch (error) {
        status.textContent = "Not sent: " + error.message;
      }
    });
  }

  const page = document.body.dataset.page;
  if (page === "devices") {
    window.setTimeout(refreshDevices, REFRESH_MS);
  } else if (page === "device") {
    const sid = document.body.dataset.device;
    followLog(sid, document.body.dataset.after || "0");
    followConsole(sid);
    consoleInput();
  }
})();
