"use strict";
// Sorting for tables with class "sortable" and filtering for the alert list. No libraries.
(function () {
  function sortKey(cell) {
    var raw = cell.getAttribute("data-sort");
    var text = raw !== null && raw !== "" ? raw : cell.textContent.trim();
    var number = parseFloat(text);
    return isNaN(number) || !/^[-+]?[\d.]/.test(text) ? { n: null, t: text.toLowerCase() }
      : { n: number, t: text };
  }
  function compare(a, b) {
    if (a.n !== null && b.n !== null) { return a.n - b.n; }
    if (a.n !== null) { return -1; }
    if (b.n !== null) { return 1; }
    return a.t < b.t ? -1 : a.t > b.t ? 1 : 0;
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    var heads = table.querySelectorAll("th[data-sort]");
    Array.prototype.forEach.call(heads, function (th) {
      th.tabIndex = 0;
      function sort() {
        var column = th.cellIndex;
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) {
          var order = compare(sortKey(r1.cells[column]), sortKey(r2.cells[column]));
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
      });
    });
  });
  // The period picker: show the blocks of one period, hide the others.
  var pickers = document.querySelectorAll("nav.periods button[data-period]");
  Array.prototype.forEach.call(pickers, function (button) {
    button.addEventListener("click", function () {
      var chosen = button.getAttribute("data-period");
      Array.prototype.forEach.call(pickers, function (b) {
        b.setAttribute("aria-pressed", b === button ? "true" : "false");
      });
      Array.prototype.forEach.call(document.querySelectorAll("div.period"), function (block) {
        block.hidden = block.getAttribute("data-period") !== chosen;
      });
    });
  });
  var table = document.getElementById("alert-table");
  if (!table) { return; }
  var search = document.getElementById("alert-search");
  var status = document.getElementById("alert-status");
  var kind = document.getElementById("alert-kind");
  var count = document.getElementById("alert-count");
  function apply() {
    var words = search.value.trim().toLowerCase();
    var rows = table.tBodies[0].rows;
    var shown = 0;
    Array.prototype.forEach.call(rows, function (row) {
      var visible = (!status.value || row.getAttribute("data-status") === status.value) &&
        (!kind.value || row.getAttribute("data-kind") === kind.value) &&
        (!words || row.textContent.toLowerCase().indexOf(words) !== -1);
      row.hidden = !visible;
      if (visible) { shown += 1; }
    });
    count.textContent = "Showing " + shown + " of " + rows.length;
  }
  search.addEventListener("input", apply);
  status.addEventListener("change", apply);
  kind.addEventListener("change", apply);
  apply();
}());
