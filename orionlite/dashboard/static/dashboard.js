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

  function drawParallel(cfg) {
    return getJSON(cfg.base + "/api/experiments/" + cfg.experiment + "/parallel").then(function (data) {
      document.getElementById("parallel-note").textContent =
        data.shown < data.total ? "(" + data.shown + " of " + data.total + " completed trials: the best and an even spread)" : "(" + data.total + " completed trials)";
      if (!data.total) return null;
      var trace = {
        type: "parcoords", dimensions: data.dimensions,
        line: { color: data.color, colorscale: "Viridis", reversescale: true, showscale: true },
      };
      return Plotly.react("plot-parallel", [trace], Object.assign({}, layout, { margin: { l: 60, r: 60, t: 40, b: 20 } }), plotConfig);
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
      return Promise.all([drawCurve(cfg), drawParallel(cfg), drawImportance(cfg)])
        .catch(function (error) { banner(String(error.message || error)); })
        .then(function () { plotsBusy = false; });
    }
    drawAll();

    poll(cfg.pollMs, function () {
      var url = cfg.base + "/api/experiments/" + cfg.experiment + "/changes?since=" + encodeURIComponent(watermark);
      return getJSON(url).then(function (data) {
        watermark = data.watermark;
        if (!data.trials.length && !data.overflow) {
          if (plotsStale && !plotsBusy && Date.now() - lastPlots > 10000) drawAll();
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
        if (done.length && document.getElementById("plot-curve").data) {
          Plotly.extendTraces("plot-curve", {
            x: [seconds(done.map(function (t) { return t.ended_at; }))],
            y: [done.map(function (t) { return t.objective; })],
            text: [done.map(function (t) { return "trial " + t.id; })],
          }, [0]);
        }
        plotsStale = true;
        if (!plotsBusy && Date.now() - lastPlots > 10000) drawAll();
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
