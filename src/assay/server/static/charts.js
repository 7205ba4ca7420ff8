// Draw every <div class="chart" data-option="ID"> from the JSON in <script type="application/json" id="ID">.
// Options are built on the server; nothing here evaluates user text as code.
(function () {
  "use strict";
  function draw() {
    var rendered = 0;
    document.querySelectorAll("div.chart[data-option]").forEach(function (el) {
      var source = document.getElementById(el.getAttribute("data-option"));
      if (!source || typeof echarts === "undefined") { return; }
      var option = JSON.parse(source.textContent);
      var chart = echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(option);
      var links = el.getAttribute("data-links");
      if (links) {  // a click on a point opens the page for that x value (e.g. the window)
        var targets = JSON.parse(links);
        chart.on("click", function (params) {
          var target = targets[params.dataIndex];
          if (typeof target === "string" && target.charAt(0) === "/") { window.location.assign(target); }
        });
      }
      window.addEventListener("resize", function () { chart.resize(); });
      rendered += 1;
    });
    document.body.setAttribute("data-charts-rendered", String(rendered));
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
