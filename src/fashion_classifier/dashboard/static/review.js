// The clerk's review queue: one photo at a time, confirm or correct with one click or key.
(function () {
  "use strict";
  const root = document.getElementById("review");
  const categories = JSON.parse(root.dataset.categories);
  const OTHER = root.dataset.other || "Other";
  const user = root.dataset.user;
  const $ = (id) => document.getElementById(id);
  const reviewerInput = $("reviewer");
  const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"];
  const TIERS = { review: "manual review", check: "quick check" };
  let items = [];
  let index = 0;
  let busy = false;
  let last = null;  // the latest decision made on this page: { item, decision }, while it can be undone

  if (reviewerInput) reviewerInput.value = window.localStorage.getItem("reviewer") || "";

  function el(tag, props, children) {
    const node = document.createElement(tag);
    Object.assign(node, props || {});
    (children || []).forEach((child) => node.append(child));
    return node;
  }

  function pct(p) { return (100 * p).toFixed(1) + "%"; }

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
      c.confirmed + " confirmed, " + c.corrected + " corrected so far");
  }

  function choices(item) {  // the model's guesses, most likely first, then any category it did not score
    const seen = new Set(item.guesses.map((g) => g.category));
    const all = item.guesses.concat(categories.filter((c) => !seen.has(c)).map((c) => ({ category: c, confidence: 0 })));
    const shown = all.slice(0, KEYS.length);
    const other = all.find((g) => g.category === OTHER);
    if (other && !shown.includes(other)) shown[shown.length - 1] = other;  // "not ours" is always a choice
    return shown;
  }

  function renderQueue() {
    $("queue").replaceChildren(...items.map((item, i) => {
      const li = el("li", { className: i === index ? "active" : "", title: item.filename }, [
        el("img", { src: "/review/photo/" + item.id + "?size=thumb", alt: "", loading: "lazy" }),
        el("span", {}, [item.category, el("small", { textContent: pct(item.confidence) + " · " + TIERS[item.tier] })]),
      ]);
      li.dataset.id = item.id;
      li.addEventListener("click", () => { index = i; render(); });
      return li;
    }));
  }

  function render() {
    const empty = items.length === 0;
    $("current").hidden = empty;
    $("empty").hidden = !empty;
    renderQueue();
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
                " (" + pct(item.confidence) + ") · run " + item.run_id + " · in " + item.folder + "/" +
                (item.model_version ? " · model " + item.model_version : "") }),
      el("p", { className: "muted", textContent: (index + 1) + " of " + items.length }));
    $("choices").replaceChildren(...choices(item).slice(0, KEYS.length).map((g, i) => {
      const button = el("button", { type: "button", className: i === 0 ? "model" : "" }, [
        el("kbd", { textContent: KEYS[i] }),
        el("span", { textContent: (g.category === OTHER ? OTHER + " (not ours)" : g.category) + (i === 0 ? " ✓ confirm" : "") }),
        el("span", { className: "muted", textContent: pct(g.confidence) }),
        el("span", { className: "bar" })]);
      button.lastChild.style.width = pct(g.confidence);
      button.dataset.category = g.category;
      button.addEventListener("click", () => decide(g.category));
      return button;
    }));
  }

  function reviewer() {
    if (user) return user;
    const name = reviewerInput.value.trim();
    if (name) window.localStorage.setItem("reviewer", name);
    return name;
  }

  async function decide(category) {
    if (busy || items.length === 0) return;
    const who = reviewer();
    if (!who) {
      toast("Type your name in 'Reviewer' first.", true);
      reviewerInput.focus();
      return;
    }
    const item = items[index];
    busy = true;
    try {
      const response = await fetch("/api/review/items/" + item.id, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ category: category, reviewer: who }) });
      const data = await response.json().catch(() => ({}));
      if (response.status === 201) {
        const d = data.decision;
        toast(d.action === "confirmed" ? "✓ " + item.filename + ": " + d.new_category + " confirmed"
              : "✓ " + item.filename + " moved to " + d.folder + "/" + d.name);
        items.splice(index, 1);
        showCounts(data.counts);
        showUndo({ item: item, decision: d });
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

  function showUndo(entry) {
    last = entry;
    const button = $("undo");
    button.hidden = !entry;
    if (entry) {
      const d = entry.decision;
      button.title = "Undo: " + entry.item.filename + (d.action === "confirmed" ? " confirmed as " + d.new_category
        : " moved to " + d.folder + "/") + " (key U)";
    }
  }

  async function undo() {
    if (busy || !last) return;
    const who = reviewer();
    if (!who) {
      toast("Type your name in 'Reviewer' first.", true);
      reviewerInput.focus();
      return;
    }
    const entry = last;
    busy = true;
    try {
      const response = await fetch("/api/review/items/" + entry.item.id + "/undo", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ decision_id: entry.decision.id, reviewer: who }) });
      const data = await response.json().catch(() => ({}));
      if (response.ok) {
        const back = data.item || Object.assign({}, entry.item, { folder: data.undo.folder, name: data.undo.name });
        items = items.filter((i) => i.id !== back.id);
        index = Math.min(index, items.length);
        items.splice(index, 0, back);  // the photo is the current one again
        showCounts(data.counts);
        showUndo(null);
        toast("↶ " + entry.item.filename + " is back in " + data.undo.folder + "/ for review");
      } else {
        toast(data.error || "Could not undo (HTTP " + response.status + ").", true);
        if (response.status === 404 || response.status === 409) showUndo(null);
      }
    } catch (error) {
      toast("The dashboard server cannot be reached; nothing was changed.", true);
    } finally {
      busy = false;
      render();
    }
  }

  $("undo").addEventListener("click", undo);

  document.addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLInputElement || event.ctrlKey || event.metaKey || event.altKey) return;
    if ((event.key === "u" || event.key === "U") && last) {
      event.preventDefault();
      undo();
      return;
    }
    if (items.length === 0) return;
    const position = KEYS.indexOf(event.key);
    if (position >= 0) {
      const options = choices(items[index]);
      if (position < options.length) decide(options[position].category);
    } else if (event.key === "s" || event.key === "S" || event.key === "ArrowRight") {
      index = (index + 1) % items.length;
      render();
    } else if (event.key === "ArrowLeft") {
      index = (index - 1 + items.length) % items.length;
      render();
    } else {
      return;
    }
    event.preventDefault();
  });

  $("export").addEventListener("click", async () => {
    const response = await fetch("/api/review/export", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: "{}" });
    const data = await response.json().catch(() => ({}));
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
    root.dataset.loaded = "true";
    render();
  }

  load();
})();
