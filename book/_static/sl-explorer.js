// Kernel-free explorers (sparselab/book/static_explorer.py): each <input type="range"> picks one
// value of a grid precomputed when the chapter was executed; the figure shown is the frame of the
// chosen values, row-major (the last slider varies fastest), as frame_index computes it.
(function () {
  "use strict";
  function setup(root) {
    var frames = JSON.parse(root.querySelector("script.sl-explorer-frames").textContent);
    var view = root.querySelector("img.sl-explorer-view");
    var inputs = Array.prototype.slice.call(root.querySelectorAll("input[type=range]"));
    function update() {
      var index = 0;
      var said = [];
      inputs.forEach(function (input) {
        var values = JSON.parse(input.getAttribute("data-values"));
        var i = Number(input.value);
        var text = input.getAttribute("data-label") + " = " + values[i];
        index = index * values.length + i;
        input.setAttribute("aria-valuetext", text);
        input.parentNode.querySelector("output").textContent = values[i];
        said.push(text);
      });
      view.src = "data:image/png;base64," + frames[index];
      view.alt = view.getAttribute("data-alt") + " (" + said.join(", ") + ")";
    }
    inputs.forEach(function (input) {
      input.addEventListener("input", update);
    });
  }
  function init() {
    document.querySelectorAll(".sl-explorer").forEach(setup);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
