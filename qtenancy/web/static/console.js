// Draws every .chart element with uPlot from the JSON in its data-chart attribute: one line per series, dashed
// red lines for thresholds, gaps where a value is missing (unless the chart joins its points), time in UTC. Sets data-drawn and data-points once drawn.
(function () {
  const colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"];
  const utc = (seconds) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC");
  document.querySelectorAll(".chart").forEach((element) => {
    const spec = JSON.parse(element.dataset.chart);
    const labels = Object.keys(spec.series);
    const data = [spec.x, ...labels.map((label) => spec.series[label])];
    const series = [{ label: "time (UTC)" }, ...labels.map((label, i) => ({
      label, stroke: colours[i % colours.length], width: 1.5, spanGaps: Boolean(spec.join),
    }))];
    (spec.thresholds || []).forEach((threshold) => {
      data.push(spec.x.map(() => threshold.value));
      series.push({ label: `${threshold.label}: ${threshold.value}`, stroke: "#c0392b", dash: [6, 4], width: 1, points: { show: false } });
    });
    const points = labels.reduce((n, label) => n + spec.series[label].filter((v) => v !== null).length, 0);
    const height = element.classList.contains("small") ? 200 : 280;
    new uPlot({
      width: element.clientWidth || 1000, height, series, tzDate: utc,
      scales: { x: { time: true } },
      hooks: { draw: [() => { element.dataset.drawn = "true"; element.dataset.points = String(points); }] },
    }, data, element);
  });
})();
