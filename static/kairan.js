// Kairan's own small scripts. Pages work without them; they only make waiting nicer.
"use strict";

// Live progress: poll the JSON at data-progress-url and update the bar until the job ends.
(function () {
  const card = document.querySelector("[data-progress-url]");
  if (!card) return;
  const running = (status) => status === "queued" || status === "importing";
  if (!running(card.dataset.status)) return;
  const number = new Intl.NumberFormat(document.documentElement.lang || undefined);
  const field = (name) => card.querySelector(`[data-field="${name}"]`);
  async function poll() {
    try {
      const response = await fetch(card.dataset.progressUrl, { headers: { Accept: "application/json" } });
      const data = (await response.json()).data;
      card.querySelector(".progress-bar").style.width = `${data.percent}%`;
      card.querySelector(".progress").setAttribute("aria-valuenow", data.percent);
      for (const name of ["done", "total", "rate", "imported", "failed"]) field(name).textContent = number.format(data[name]);
      field("seconds_left").textContent = data.seconds_left === null ? "—" : number.format(data.seconds_left);
      if (!running(data.status)) { window.location.reload(); return; }
    } catch (error) {
      // A missed poll is retried below; the page itself stays correct on reload.
    }
    window.setTimeout(poll, 1000);
  }
  window.setTimeout(poll, 500);
})();
