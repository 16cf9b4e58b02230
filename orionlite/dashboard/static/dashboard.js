// orionlite dashboard: live updates by short polling of small read-only endpoints.
// Text from the database is only ever set with textContent, or arrives as HTML the
// server rendered with escaping; this file never builds HTML from data.
"use strict";
var orionliteDashboard = (function () {
  function config() {
    return JSON.parse(document.getElementById("dashboard-config").textContent);
  }

  function banner(text) {
    var element = document.getElementById("banner");
    element.textContent = text || "";
    element.hidden = !text;
  }

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" } }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok || body.error) {
          throw new Error((body.error || response.statusText) + (body.hint ? " " + body.hint : ""));
        }
        return body;
      });
    });
  }

  function getText(url) {
    return fetch(url).then(function (response) {
      return response.text().then(function (text) {
        if (!response.ok) throw new Error(text);
        return text;
      });
    });
  }

  // Calls step() every pollMs, one call at a time; a failure shows in the banner.
  function poll(pollMs, step) {
    function again() {
      step().then(function () { banner(""); }, function (error) { banner(String(error.message || error)); })
        .then(function () { setTimeout(again, pollMs); });
    }
    setTimeout(again, pollMs);
  }

  function experiments() {
    var cfg = config();
    var watermark = cfg.watermark;
    poll(cfg.pollMs, function () {
      return getJSON(cfg.base + "/api/experiments?since=" + encodeURIComponent(watermark)).then(function (data) {
        watermark = data.watermark;
        if (data.changed) document.getElementById("experiment-rows").innerHTML = data.html;
      });
    });
  }

  var layout = { margin: { l: 50, r: 20, t: 10, b: 40 }, font: { size: 11 } };
  var plotConfig = { displaylogo: false, responsive: true };

  function seconds(values) {
    return values.map(function (t) { return new Date(t * 1000); });
  }

  function drawCurve(cfg) {
    return getJSON(cfg.base + "/api/experiments/" + cfg.experiment + "/curve").then(function (data) {
      var points = {
        x: seconds(data.points.x), y: data.points.y, text: data.points.id.map(function (i) { return "trial " + i; }),
        mode: "markers", type: "scatter", name: "objective", marker: { size: 4, opacity: 0.5 },
      };
      var best = {
        x: seconds(data.best.x), y: data.best.y, mode: "lines", line: { shape: "hv", width: 2.5 },
        name: "best so far", type: "scatter",
      };
      return Plotly.react("plot-curve", [points, best], Object.assign({ xaxis: { type: "date" }, showlegend: false }, layout), plotConfig);
    });
  }

  // Parallel coordinates as SVG polylines: plotly's parcoords needs WebGL, which takes
  // seconds for 1,000 lines where the browser has no GPU. Lines are grouped into a few
  // traces by objective (dark = low = good), the best trial on top in red.
  var PALETTE = ["#440154", "#46327e", "#365c8d", "#277f8e", "#1fa187", "#4ac16d", "#a0da39", "#fde725"];

  function drawParallel(cfg) {
    return getJSON(cfg.base + "/api/experiments/" + cfg.experiment + "/parallel").then(function (data) {
      document.getElementById("parallel-note").textContent =
        data.shown < data.total ? "(" + data.shown + " of " + data.total + " completed trials: the best and an even spread)" : "(" + data.total + " completed trials)";
      if (!data.total) return null;
      var dims = data.dimensions.map(function (dim) {
        var numbers = dim.values.filter(function (v) { return v !== null; });
        var range = dim.range || [Math.min.apply(null, numbers), Math.max.apply(null, numbers)];
        if (!(range[1] > range[0])) range = [range[0] - 0.5, range[0] + 0.5];
        return { dim: dim, low: range[0], high: range[1] };
      });
      function height(d, value) { return value === null ? null : (value - d.low) / (d.high - d.low); }
      var objectives = data.color;
      var lo = Math.min.apply(null, objectives), hi = Math.max.apply(null, objectives);
      var groups = PALETTE.map(function () { return { x: [], y: [] }; });
      var best = 0;
      objectives.forEach(function (objective, i) {
        if (objective < objectives[best]) best = i;
        var share = hi > lo ? (objective - lo) / (hi - lo) : 0;
        var group = groups[Math.min(PALETTE.length - 1, Math.floor(share * PALETTE.length))];
        dims.forEach(function (d, axis) { group.x.push(axis); group.y.push(height(d, d.dim.values[i])); });
        group.x.push(null); group.y.push(null);
      });
      var traces = groups.map(function (group, g) {
        return { x: group.x, y: group.y, mode: "lines", type: "scatter", hoverinfo: "skip",
                 line: { color: PALETTE[g], width: 1 }, opacity: 0.5, showlegend: false };
      }).reverse();  // the best group drawn last, on top
      traces.push({ x: dims.map(function (d, axis) { return axis; }), y: dims.map(function (d) { return height(d, d.dim.values[best]); }),
                    mode: "lines+markers", type: "scatter", line: { color: "#d62728", width: 3 }, name: "best", showlegend: false });
      var annotations = [], shapes = [];
      dims.forEach(function (d, axis) {
        shapes.push({ type: "line", x0: axis, x1: axis, y0: 0, y1: 1, line: { color: "#444", width: 1 } });
        annotations.push({ x: axis, y: 1.1, text: d.dim.label, showarrow: false, font: { size: 11 } });
        var ticks = d.dim.tickvals ? d.dim.tickvals.map(function (v, k) { return [v, d.dim.ticktext[k]]; })
                                   : [[d.low, Number(d.low).toPrecision(3)], [d.high, Number(d.high).toPrecision(3)]];
        ticks.forEach(function (tick) {
          annotations.push({ x: axis, y: height(d, tick[0]), text: String(tick[1]), showarrow: false, xanchor: "left", xshift: 3, font: { size: 9, color: "#555" } });
        });
      });
      var frame = { margin: { l: 20, r: 40, t: 30, b: 10 }, shapes: shapes, annotations: annotations,
                    xaxis: { visible: false, range: [-0.1, dims.length - 0.6] }, yaxis: { visible: false, range: [-0.05, 1.15] } };
      return Plotly.react("plot-parallel", traces, frame, plotConfig);
    });
  }

  // Pareto front: 2 or 3 objectives as reported; the front in red, dominated trials in
  // blue, constraint violations in grey (samples of the last two, the whole front).
  var PARETO_STYLE = { infeasible: ["lightgrey", "violates a constraint"], other: ["#1f77b4", "dominated"], front: ["#d62728", "Pareto front"] };

  function drawPareto(cfg) {
    if (!cfg.pareto) return Promise.resolve(null);
    return getJSON(cfg.base + "/api/experiments/" + cfg.experiment + "/pareto").then(function (data) {
      var three = data.labels.length === 3;
      document.getElementById("pareto-note").textContent = "(" + data.front.total + " on the front, " +
        data.other.total + " dominated, " + data.infeasible.total + " infeasible)";
      var traces = ["infeasible", "other", "front"].map(function (group) {
        var g = data[group];
        var trace = { x: g.values[0], y: g.values[1], text: g.id.map(function (i) { return "trial " + i; }),
                      mode: "markers", type: three ? "scatter3d" : "scatter", name: PARETO_STYLE[group][1],
                      marker: { color: PARETO_STYLE[group][0], size: group === "front" ? 7 : 5 } };
        if (three) trace.z = g.values[2];
        return trace;
      });
      var axes = three ? { scene: { xaxis: { title: data.labels[0] }, yaxis: { title: data.labels[1] }, zaxis: { title: data.labels[2] } } }
                       : { xaxis: { title: { text: data.labels[0] } }, yaxis: { title: { text: data.labels[1] } } };
      return Plotly.react("plot-pareto", traces, Object.assign({}, layout, axes), plotConfig);
    });
  }

  // Intermediate values: one line per trial (a sample of them), pruned ones dotted with a
  // cross where they were stopped.
  function drawProgress(cfg) {
    return getJSON(cfg.base + "/api/experiments/" + cfg.experiment + "/progress").then(function (data) {
      if (!data.total) return null;
      document.getElementById("progress-figure").hidden = false;
      document.getElementById("progress-note").textContent = data.curves.length < data.total
        ? "(" + data.curves.length + " of " + data.total + " trials that reported)" : "(" + data.total + " trials)";
      var traces = data.curves.map(function (c) {
        return { x: c.steps, y: c.values, mode: "lines", type: "scatter", name: "trial " + c.id + (c.pruned ? " (pruned)" : ""),
                 line: { width: 1, dash: c.pruned ? "dot" : "solid", color: c.pruned ? "#999" : "#1f77b4" }, showlegend: false };
      });
      var ends = data.curves.filter(function (c) { return c.pruned && c.steps.length; });
      traces.push({ x: ends.map(function (c) { return c.steps[c.steps.length - 1]; }), y: ends.map(function (c) { return c.values[c.values.length - 1]; }),
                    text: ends.map(function (c) { return "trial " + c.id + " pruned"; }), mode: "markers", type: "scatter",
                    marker: { symbol: "x", color: "#d62728", size: 8 }, name: "pruned", showlegend: false });
      return Plotly.react("plot-progress", traces, Object.assign({ xaxis: { title: { text: "step" } } }, layout), plotConfig);
    });
  }

  function drawImportance(cfg) {
    return getJSON(cfg.base + "/api/experiments/" + cfg.experiment + "/importance").then(function (data) {
      var note = data.message ? data.message : (data.fitted < data.total ? "(fitted on " + data.fitted + " of " + data.total + " completed trials)" : "");
      document.getElementById("importance-note").textContent = note;
      if (!data.names.length) return null;
      var trace = { type: "bar", orientation: "h", x: data.values, y: data.names };
      return Plotly.react("plot-importance", [trace], Object.assign({}, layout, { margin: { l: 100, r: 20, t: 10, b: 40 } }), plotConfig);
    });
  }

  function experiment() {
    var cfg = config();
    var watermark = cfg.watermark;
    var trialsUrl = cfg.base + "/experiments/" + cfg.experiment + "/trials?" + cfg.query;
    var plotsStale = false;
    var lastPlots = Date.now();
    var plotsBusy = false;
    var bestLink = document.getElementById("best");

    function drawAll() {
      plotsBusy = true;
      lastPlots = Date.now();
      plotsStale = false;
      return Promise.all([drawCurve(cfg), drawParallel(cfg), drawImportance(cfg), drawPareto(cfg), drawProgress(cfg)])
        .catch(function (error) { banner(String(error.message || error)); })
        .then(function () { plotsBusy = false; });
    }
    drawAll();

    poll(cfg.pollMs, function () {
      var url = cfg.base + "/api/experiments/" + cfg.experiment + "/changes?since=" + encodeURIComponent(watermark);
      return getJSON(url).then(function (data) {
        watermark = data.watermark;
        if (!data.trials.length && !data.overflow) {
          if (plotsStale && !plotsBusy && Date.now() - lastPlots > cfg.redrawMs) drawAll();
          return null;
        }
        Object.keys(data.counts).forEach(function (status) {
          var cell = document.querySelector('#counts b[data-status="' + status + '"]');
          if (cell) cell.textContent = data.counts[status];
        });
        if (data.best) {
          var link = document.createElement("a");
          link.href = cfg.base + "/trials/" + data.best.id;
          link.textContent = Number(data.best.objective).toPrecision(6).replace(/\.?0+$/, "") + " (trial " + data.best.id + ")";
          bestLink.replaceChildren(link);
        }
        if (data.overflow) lastPlots = 0; // too much changed to read: redraw everything
        var done = data.trials.filter(function (t) { return t.status === "completed" && t.objective !== null; });
        var curve = document.getElementById("plot-curve");
        if (done.length && curve.data) {
          done.sort(function (a, b) { return a.ended_at - b.ended_at; });
          Plotly.extendTraces("plot-curve", {
            x: [seconds(done.map(function (t) { return t.ended_at; }))],
            y: [done.map(function (t) { return t.objective; })],
            text: [done.map(function (t) { return "trial " + t.id; })],
          }, [0]);
          // The best-so-far line steps down at each new best and runs to the latest trial.
          // By the direction, feasible trials only (as the server's curve).
          var sign = cfg.maximize ? -1 : 1;
          var line = curve.data[1], steps = { x: [], y: [] };
          var best = line.y.length ? line.y[line.y.length - 1] : sign * Infinity;
          done.forEach(function (t) {
            if (t.feasible && sign * t.objective < sign * best) { best = t.objective; steps.x.push(t.ended_at); steps.y.push(best); }
          });
          steps.x.push(done[done.length - 1].ended_at); steps.y.push(best);
          Plotly.extendTraces("plot-curve", { x: [seconds(steps.x)], y: [steps.y] }, [1]);
        }
        plotsStale = true;
        if (!plotsBusy && Date.now() - lastPlots > cfg.redrawMs) drawAll();
        return getText(trialsUrl).then(function (html) {
          document.getElementById("trials").innerHTML = html;
        });
      });
    });
  }

  function trial() {
    var cfg = config();
    if (cfg.terminal) return;
    var url = cfg.base + "/trials/" + cfg.trial + "/body";
    poll(cfg.pollMs, function () {
      var status = document.getElementById("trial-status");
      if (status && status.dataset.terminal === "yes") return Promise.resolve(null);
      return getText(url).then(function (html) {
        document.getElementById("trial-body").innerHTML = html;
      });
    });
  }

  return { experiments: experiments, experiment: experiment, trial: trial };
})();

// Deferred: runs once the page is parsed, for the page its script tag names.
orionliteDashboard[document.currentScript.dataset.page]();
