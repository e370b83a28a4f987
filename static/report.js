// The campaign report: opens and clicks over time (Chart.js), and live figures while the campaign sends.
// Every number on the page is rendered by the server; this only draws the chart and swaps in new parts.
"use strict";

(function () {
  const head = document.querySelector("[data-report-url]");
  const card = document.querySelector("[data-chart]");
  if (!head || !card || typeof Chart === "undefined") return;
  const labels = JSON.parse(card.dataset.labels);
  const zone = card.dataset.zone;
  const lang = document.documentElement.lang || undefined;
  const hourFormat = new Intl.DateTimeFormat(lang, { timeZone: zone, month: "numeric", day: "numeric", hour: "numeric" });
  const dayFormat = new Intl.DateTimeFormat(lang, { timeZone: zone, month: "numeric", day: "numeric" });
  const HOUR = 3600 * 1000;
  // Each kind is one bar: people's events, with machines' stacked on top in grey.
  const SERIES = [
    ["opens", "#c2410c", "opens"], ["machine_opens", "#cbd2d9", "opens"],
    ["clicks", "#0b63c4", "clicks"], ["machine_clicks", "#9aa5b1", "clicks"],
  ];
  let timeline = JSON.parse(card.dataset.timeline);
  let scale = "hourly";

  // Hourly: the buckets of the first 48 hours. Daily: 24-hour days counted from the send's first hour,
  // which the metrics' daily buckets already follow, so hourly buckets add up into the same days.
  function series() {
    if (!timeline.length) return { labels: [], values: SERIES.map(() => []) };
    const origin = Date.parse(timeline[0].start);
    if (scale === "hourly") {
      const hours = timeline.filter((bucket) => bucket.hours === 1);
      return {
        labels: hours.map((bucket) => hourFormat.format(new Date(bucket.start))),
        values: SERIES.map(([key]) => hours.map((bucket) => bucket[key])),
      };
    }
    const days = new Map();
    for (const bucket of timeline) {
      const day = Math.floor((Date.parse(bucket.start) - origin) / (24 * HOUR));
      const sums = days.get(day) || SERIES.map(() => 0);
      SERIES.forEach(([key], index) => { sums[index] += bucket[key]; });
      days.set(day, sums);
    }
    const last = Math.max(...days.keys());
    const numbers = [...Array(last + 1).keys()];
    return {
      labels: numbers.map((day) => [labels.day.replace("{n}", day + 1), dayFormat.format(new Date(origin + day * 24 * HOUR))]),
      values: SERIES.map((_series, index) => numbers.map((day) => (days.get(day) || [])[index] || 0)),
    };
  }

  const canvas = document.getElementById("report-chart");
  const chart = new Chart(canvas, {
    type: "bar",
    data: { labels: [], datasets: SERIES.map(([key, color, stack]) => ({
      label: labels[key], backgroundColor: color, borderColor: color, stack,
    })) },
    options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      interaction: { mode: "index", intersect: false },
      scales: { x: { stacked: true, ticks: { autoSkip: true, maxRotation: 0 } },
                y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
      plugins: { legend: { position: "bottom" } },
    },
  });

  function draw() {
    const { labels: names, values } = series();
    chart.data.labels = names;
    chart.data.datasets.forEach((dataset, index) => { dataset.data = values[index]; });
    chart.update();
    card.querySelector(".chart-empty").hidden = timeline.length > 0;
  }

  for (const button of card.querySelectorAll("[data-scale]")) {
    button.addEventListener("click", () => {
      scale = button.dataset.scale;
      for (const other of card.querySelectorAll("[data-scale]")) other.setAttribute("aria-pressed", String(other === button));
      draw();
    });
  }
  draw();

  // Live while sending: the same figures again every few seconds, until the campaign stops running.
  if (head.dataset.live !== "true") return;
  const frame = document.querySelector(".clickmap-frame");
  let clicks = null;
  async function poll() {
    try {
      const response = await fetch(head.dataset.reportUrl, { headers: { Accept: "application/json" } });
      const answer = await response.json();
      for (const [name, html] of Object.entries(answer.parts)) {
        const part = document.querySelector(`[data-part="${name}"]`);
        if (part) part.innerHTML = html;
      }
      timeline = answer.data.timeline;
      draw();
      const total = answer.data.links.reduce((sum, link) => sum + link.clicks, 0);
      if (frame && clicks !== null && total !== clicks) frame.src = frame.src;  // new badges
      clicks = total;
      if (!answer.data.live) { window.location.reload(); return; }  // finished, paused or cancelled: show its status
    } catch (error) {
      // A missed poll is retried below; the page itself stays correct on reload.
    }
    window.setTimeout(poll, Number(head.dataset.pollSeconds) * 1000);
  }
  window.setTimeout(poll, Number(head.dataset.pollSeconds) * 1000);
})();
