// The clerk's review queue: one photo at a time, confirm, correct or set aside with one click or key.
// Every category keeps its key on every photo (the model's label order), so the hand learns them.
(function () {
  "use strict";
  const root = document.getElementById("review");
  const categories = JSON.parse(root.dataset.categories);  // the model's labels in order, then Other
  const OTHER = root.dataset.other || "Other";
  const user = root.dataset.user;
  const $ = (id) => document.getElementById(id);
  const reviewerInput = $("reviewer");
  const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"];
  const OTHER_KEY = "N";  // "not ours" (an O would look like the 0 of the tenth category)
  const TIERS = { review: "manual review", check: "quick check" };
  const numbered = categories.filter((c) => c !== OTHER);
  const byKey = {};  // key -> category, fixed for the whole page
  numbered.slice(0, KEYS.length).forEach((c, i) => { byKey[KEYS[i]] = c; });
  byKey[OTHER_KEY.toLowerCase()] = OTHER;
  let items = [];
  let index = 0;
  let busy = false;
  let recent = [];  // this reviewer's undoable decisions, newest first (from the server, kept up to date)

  if (reviewerInput) reviewerInput.value = window.localStorage.getItem("reviewer") || "";

  function el(tag, props, children) {
    const node = document.createElement(tag);
    Object.assign(node, props || {});
    (children || []).forEach((child) => node.append(child));
    return node;
  }

  function pct(p) { return (100 * p).toFixed(1) + "%"; }

  function keyOf(category) {
    if (category === OTHER) return OTHER_KEY;
    const i = numbered.indexOf(category);
    return i >= 0 && i < KEYS.length ? KEYS[i] : "";
  }

  function night(runId) {  // 20261201_020000 -> "night of 2026-12-01 02:00"
    const m = /^(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})/.exec(runId || "");
    return m ? "night of " + m[1] + "-" + m[2] + "-" + m[3] + " " + m[4] + ":" + m[5] : "run " + runId;
  }

  function toast(text, isError) {
    const box = $("toast");
    box.textContent = text;
    box.className = "toast show" + (isError ? " error" : "");
    window.clearTimeout(toast.timer);
    toast.timer = window.setTimeout(() => { box.className = "toast"; }, 4000);
  }

  function showCounts(c) {
    $("counts").replaceChildren(el("b", { textContent: c.waiting + " waiting" }),
      " (" + c.manual_review + " manual review, " + c.quick_check + " quick check) · " +
      c.confirmed + " confirmed, " + c.corrected + " corrected, " + (c.retake || 0) + " to retake so far");
  }

  function renderQueue() {
    $("queue").replaceChildren(...items.map((item, i) => {
      const li = el("li", { className: i === index ? "active" : "", title: item.filename }, [
        el("img", { src: "/review/photo/" + item.id + "?size=thumb", alt: "", loading: "lazy" }),
        el("span", {}, [
          el("span", { className: "file", textContent: item.filename }),
          el("small", { textContent: item.category + " · " + pct(item.confidence) + " · " + TIERS[item.tier] }),
          el("small", { textContent: night(item.run_id) })]),
      ]);
      li.dataset.id = item.id;
      li.addEventListener("click", () => { index = i; render(); });
      return li;
    }));
  }

  function choiceButton(item, category, scores) {
    const isModel = category === item.category;
    const name = category === OTHER ? OTHER + " (not ours)" : category;
    const button = el("button", { type: "button", className: isModel ? "model" : "" }, [
      el("kbd", { textContent: keyOf(category) }),
      el("span", { textContent: name + (isModel ? " ✓ model's answer" : "") }),
      el("span", { className: "muted", textContent: pct(scores[category] || 0) }),
      el("span", { className: "bar" })]);
    button.lastChild.style.width = pct(scores[category] || 0);
    button.dataset.category = category;
    button.dataset.key = keyOf(category);
    button.addEventListener("click", () => decide(category));
    return button;
  }

  function renderChoices(item) {
    const scores = {};
    item.guesses.forEach((g) => { scores[g.category] = g.confidence; });
    const shown = numbered.concat([OTHER]).map((c) => choiceButton(item, c, scores));
    const retake = el("button", { type: "button", className: "retake", title: "blurred, cut off, the wrong item" },
      [el("kbd", { textContent: "R" }), el("span", { textContent: "Photo unusable — retake" }), el("span")]);
    retake.dataset.action = "retake";
    retake.addEventListener("click", () => retakePhoto());
    $("choices").replaceChildren(...shown, retake);
  }

  function render() {
    const empty = items.length === 0;
    $("current").hidden = empty;
    $("empty").hidden = !empty;
    renderQueue();
    renderRecent();
    if (empty) return;
    index = Math.min(index, items.length - 1);
    const item = items[index];
    const active = $("queue").children[index];
    if (active) active.scrollIntoView({ block: "nearest" });
    $("photo").src = "/review/photo/" + item.id + "?size=large";
    $("photo").alt = item.filename;
    $("current").dataset.id = item.id;
    $("meta").replaceChildren(
      el("h2", { textContent: item.filename }),
      el("span", { className: "tier " + item.tier, textContent: TIERS[item.tier] }),
      el("p", { textContent: "Model: " + (item.category === OTHER ? "not one of ours" : item.category) +
                " (" + pct(item.confidence) + ") · " + night(item.run_id) + " · in " + item.folder + "/" +
                (item.model_version ? " · model " + item.model_version : "") }),
      el("p", { className: "muted", textContent: (index + 1) + " of " + items.length }));
    renderChoices(item);
  }

  function reviewer() {
    if (user) return user;
    const name = reviewerInput.value.trim();
    if (name) window.localStorage.setItem("reviewer", name);
    return name;
  }

  function askName() {
    toast("Type your name in 'Reviewer' first.", true);
    reviewerInput.focus();
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body) });
    return { response: response, data: await response.json().catch(() => ({})) };
  }

  function said(item, d) {
    if (d.action === "confirmed") return "✓ " + item.filename + ": " + d.new_category + " confirmed";
    if (d.action === "retake") return "✓ " + item.filename + " set aside in " + d.folder + "/: take a new photo";
    return "✓ " + item.filename + " moved to " + d.folder + "/" + d.name;
  }

  async function send(body) {  // one decision on the current photo
    if (busy || items.length === 0) return;
    const who = reviewer();
    if (!who) return askName();
    const item = items[index];
    busy = true;
    try {
      const { response, data } = await post("/api/review/items/" + item.id, Object.assign({ reviewer: who }, body));
      if (response.status === 201) {
        const d = data.decision;
        toast(said(item, d));
        items.splice(index, 1);
        showCounts(data.counts);
        recent.unshift(Object.assign({ filename: item.filename, run_id: item.run_id }, d));
      } else if (response.status === 404 || response.status === 409) {
        toast(data.error || "This photo was already handled.", true);
        items.splice(index, 1);  // someone else decided, or the file is gone
      } else {
        toast(data.error || "Could not save the decision (HTTP " + response.status + ").", true);
      }
    } catch (error) {
      toast("The dashboard server cannot be reached; nothing was changed.", true);
    } finally {
      busy = false;
      render();
    }
  }

  function decide(category) { return send({ category: category }); }
  function retakePhoto() { return send({ action: "retake" }); }

  function describe(d) {
    if (d.action === "confirmed") return d.filename + ": " + d.new_category + " confirmed";
    if (d.action === "retake") return d.filename + ": unusable, retake";
    return d.filename + ": " + d.old_category + " → " + d.new_category;
  }

  function renderRecent() {
    $("recent").hidden = recent.length === 0;
    $("recent-list").replaceChildren(...recent.map((d) => {
      const button = el("button", { type: "button", textContent: "Undo" });
      button.addEventListener("click", () => undo(d));
      const li = el("li", {}, [el("span", { textContent: describe(d) + " · " + d.decided_at.slice(11, 16) }), button]);
      li.dataset.decision = d.id;
      li.dataset.item = d.item_id;
      return li;
    }));
    const button = $("undo");
    button.hidden = recent.length === 0;
    if (recent.length) button.title = "Undo: " + describe(recent[0]) + " (key U)";
  }

  async function undo(entry) {
    if (busy || !entry) return;
    const who = reviewer();
    if (!who) return askName();
    busy = true;
    try {
      const { response, data } = await post("/api/review/items/" + entry.item_id + "/undo",
                                            { decision_id: entry.id, reviewer: who });
      if (response.ok) {
        recent = recent.filter((d) => d.id !== entry.id);
        if (data.item) {
          items = items.filter((i) => i.id !== data.item.id);
          index = Math.min(index, items.length);
          items.splice(index, 0, data.item);  // the photo is the current one again
        }
        showCounts(data.counts);
        toast("↶ " + entry.filename + " is back in " + data.undo.folder + "/ for review");
      } else {
        toast(data.error || "Could not undo (HTTP " + response.status + ").", true);
        if (response.status === 404 || response.status === 409) recent = recent.filter((d) => d.id !== entry.id);
      }
    } catch (error) {
      toast("The dashboard server cannot be reached; nothing was changed.", true);
    } finally {
      busy = false;
      render();
    }
  }

  async function loadRecent() {
    const who = reviewer();
    if (!who) { recent = []; renderRecent(); return; }
    try {
      const response = await fetch("/api/review/recent?reviewer=" + encodeURIComponent(who),
                                   { credentials: "same-origin" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      recent = (await response.json()).decisions;
    } catch (error) {
      toast("Could not load your recent decisions: " + error.message, true);
    }
    renderRecent();
  }

  $("undo").addEventListener("click", () => undo(recent[0]));
  if (reviewerInput) reviewerInput.addEventListener("change", loadRecent);

  function typingIn(target) {  // a field the clerk is typing in: its keys are text, not commands
    if (target instanceof HTMLInputElement) return !["button", "checkbox", "radio", "submit"].includes(target.type);
    return target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement || target.isContentEditable;
  }

  function pressable(target) {  // Enter on a focused button or link is the browser's own click
    return target instanceof HTMLButtonElement || target instanceof HTMLAnchorElement;
  }

  function command(event) {  // true if the key did something
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (key === "u") {
      if (recent.length === 0) return false;
      undo(recent[0]);
      return true;
    }
    if (items.length === 0) return false;
    if (byKey[key]) {
      decide(byKey[key]);
      return true;
    }
    if (key === "r") {
      retakePhoto();
      return true;
    }
    if (key === "Enter") {
      if (pressable(event.target)) return false;
      decide(items[index].category);  // confirm the model's answer
      return true;
    }
    return browse(key);
  }

  function browse(key) {
    if (key === "s" || key === "ArrowRight") index = (index + 1) % items.length;
    else if (key === "ArrowLeft") index = (index - 1 + items.length) % items.length;
    else return false;
    render();
    return true;
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (typingIn(event.target)) {  // typing works as usual; Enter or Esc leaves the field
      if (event.key === "Enter" || event.key === "Escape") {
        event.preventDefault();
        event.target.blur();
      }
      return;
    }
    if (command(event)) event.preventDefault();
  });

  $("export").addEventListener("click", async () => {
    const { response, data } = await post("/api/review/export", {});
    if (response.ok) toast("Exported " + data.rows + " labelled photos (" + data.corrected + " corrected) to " + data.csv);
    else toast(data.error || "Export failed (HTTP " + response.status + ").", true);
  });

  async function load() {
    try {
      const response = await fetch("/api/review/items", { credentials: "same-origin" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const data = await response.json();
      items = data.items;
      showCounts(data.counts);
    } catch (error) {
      toast("Could not load the review queue: " + error.message, true);
    }
    await loadRecent();
    root.dataset.loaded = "true";
    render();
  }

  load();
})();
