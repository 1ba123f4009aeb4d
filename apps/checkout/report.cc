#include "checkout/report.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <set>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace wharf::checkout {
namespace {

double micros_to_ms(std::int64_t micros) { return static_cast<double>(micros) / 1000.0; }

double throughput_per_s(const RunReport& run) {
  return run.duration_s > 0 ? static_cast<double>(run.accepted) / run.duration_s : 0.0;
}

// Latencies span 50 µs to minutes; about four significant digits reads well at every scale.
std::string format_ms(double ms) {
  if (!std::isfinite(ms)) return "-";
  if (ms < 10) return fmt::format("{:.3f}", ms);
  if (ms < 100) return fmt::format("{:.2f}", ms);
  if (ms < 1000) return fmt::format("{:.1f}", ms);
  return fmt::format("{:.0f}", ms);
}

std::string format_rate(double per_s) {
  return std::isfinite(per_s) ? fmt::format("{:.1f}", per_s) : "-";
}

std::string format_ratio(double r) { return std::isfinite(r) ? fmt::format("{:.2f}", r) : "-"; }

std::string run_title(const RunReport& run) {
  return fmt::format("{} / {} / {} orders/s", run.mode, run.transport,
                     format_rate(run.target_rate));
}

// A table both renderers share, so the terminal and the page always show the same columns.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  bool first_column_names = true;  // left-aligned in text; otherwise every column is a number
};

Table summary_table(const RunReport& run) {
  const auto& a = run.accept;
  return Table{
      {"offered", "accepted", "rejected", "throughput/s", "accept p50 ms", "accept p95 ms",
       "accept p99 ms", "accept max ms"},
      {{std::to_string(run.offered), std::to_string(run.accepted), std::to_string(run.rejected),
        format_rate(throughput_per_s(run)), format_ms(micros_to_ms(a.percentile(50))),
        format_ms(micros_to_ms(a.percentile(95))), format_ms(micros_to_ms(a.percentile(99))),
        format_ms(micros_to_ms(a.max()))}},
      false};
}

Table group_table(const RunReport& run) {
  Table t{{"group", "handled", "e2e p50 ms", "e2e p95 ms", "e2e p99 ms", "e2e max ms", "max lag",
           "final lag", "max skew", "retries", "dead letters", "duplicates"},
          {}};
  for (const GroupReport& g : run.groups) {
    t.rows.push_back(
        {g.name, std::to_string(g.handled), format_ms(micros_to_ms(g.e2e.percentile(50))),
         format_ms(micros_to_ms(g.e2e.percentile(95))),
         format_ms(micros_to_ms(g.e2e.percentile(99))), format_ms(micros_to_ms(g.e2e.max())),
         std::to_string(g.max_lag), std::to_string(g.final_lag), format_ratio(g.max_skew),
         std::to_string(g.retries), std::to_string(g.dead_letters), std::to_string(g.duplicates)});
  }
  return t;
}

Table comparison_table(const std::vector<RunReport>& runs) {
  Table t{
      {"run", "offered", "accepted", "rejected", "throughput/s", "accept p50 ms", "accept p99 ms"},
      {}};
  for (const RunReport& run : runs) {
    t.rows.push_back({run_title(run), std::to_string(run.offered), std::to_string(run.accepted),
                      std::to_string(run.rejected), format_rate(throughput_per_s(run)),
                      format_ms(micros_to_ms(run.accept.percentile(50))),
                      format_ms(micros_to_ms(run.accept.percentile(99)))});
  }
  return t;
}

// Terminal columns: count UTF-8 lead bytes, not bytes, so a non-ASCII group name lines up.
std::size_t display_width(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// Names left-aligned, numbers right-aligned; two spaces between columns.
void append_text_table(const Table& t, std::string& out) {
  std::vector<std::size_t> widths;
  for (const std::string& h : t.header) widths.push_back(display_width(h));
  for (const auto& row : t.rows) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], display_width(row[i]));
    }
  }
  auto append_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t i = 0; i < widths.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      const std::string pad(widths[i] - std::min(widths[i], display_width(cell)), ' ');
      if (i > 0) line += "  ";
      line += i == 0 && t.first_column_names ? cell + pad : pad + cell;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  };
  append_row(t.header);
  for (const auto& row : t.rows) append_row(row);
}

nlohmann::json snapshot_json(const LatencyHistogram::Snapshot& s) {
  return {{"count", s.count()},
          {"mean_ms", s.mean() / 1000.0},
          {"p50_ms", micros_to_ms(s.percentile(50))},
          {"p95_ms", micros_to_ms(s.percentile(95))},
          {"p99_ms", micros_to_ms(s.percentile(99))},
          {"p999_ms", micros_to_ms(s.percentile(99.9))},
          {"max_ms", micros_to_ms(s.max())}};
}

// ---- HTML ----

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

void append_html_table(const Table& t, std::string& out) {
  out += t.first_column_names ? "<table>\n<tr>" : "<table class=\"numbers\">\n<tr>";
  for (const std::string& h : t.header) out += "<th>" + html_escape(h) + "</th>";
  out += "</tr>\n";
  for (const auto& row : t.rows) {
    out += "<tr>";
    for (const std::string& cell : row) out += "<td>" + html_escape(cell) + "</td>";
    out += "</tr>\n";
  }
  out += "</table>\n";
}

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y)
};

// An axis from 0 to the data's maximum rounded up to a whole number of steps, each step 1, 2 or
// 5 x 10^k and the one nearest (by ratio) to a fifth of the maximum: 4 to 8 short tick labels.
struct Axis {
  double max = 1;
  double step = 0.2;
};

Axis nice_axis(double data_max) {
  if (!(data_max > 0) || !std::isfinite(data_max)) return Axis{};
  const double raw_step = data_max / 5;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw_step)));
  double step = magnitude;
  for (double m : {2.0, 5.0, 10.0}) {
    if (std::abs(std::log(m * magnitude / raw_step)) < std::abs(std::log(step / raw_step))) {
      step = m * magnitude;
    }
  }
  return Axis{std::ceil(data_max / step - 1e-9) * step, step};
}

std::string tick_label(double value, double step) {
  if (step >= 1) return fmt::format("{:.0f}", value);
  const int decimals = static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  return fmt::format("{:.{}f}", value, decimals);
}

constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                    "#9467bd", "#8c564b", "#e377c2", "#17becf"};

// One line chart as inline SVG: axes from 0, gridlines at the ticks, a legend entry per series.
std::string svg_line_chart(const std::string& title, const std::string& x_label,
                           const std::string& y_label, const std::vector<Series>& series) {
  constexpr double kWidth = 760, kPlotLeft = 70, kPlotRight = 740, kLegendRowHeight = 18;
  // Legend entries flow left to right and wrap; the plot starts below them.
  struct LegendEntry {
    double x, y;
  };
  std::vector<LegendEntry> legend;
  double lx = kPlotLeft, ly = 0;
  for (const Series& s : series) {
    const double entry_width = 28 + 7.0 * static_cast<double>(display_width(s.name));
    if (lx > kPlotLeft && lx + entry_width > kPlotRight) {
      lx = kPlotLeft;
      ly += kLegendRowHeight;
    }
    legend.push_back({lx, ly});
    lx += entry_width + 12;
  }
  const double plot_top = 16 + (series.empty() ? 0 : ly + kLegendRowHeight) + 8;
  const double plot_bottom = plot_top + 200;
  const double height = plot_bottom + 44;

  double x_max = 0, y_max = 0;
  for (const Series& s : series) {
    for (const auto& [x, y] : s.points) {
      if (std::isfinite(x)) x_max = std::max(x_max, x);
      if (std::isfinite(y)) y_max = std::max(y_max, y);
    }
  }
  const Axis xa = nice_axis(x_max), ya = nice_axis(y_max);
  auto px = [&](double x) { return kPlotLeft + (kPlotRight - kPlotLeft) * x / xa.max; };
  auto py = [&](double y) { return plot_bottom - (plot_bottom - plot_top) * y / ya.max; };

  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0:.0f}\" height=\"{1:.0f}\" "
      "viewBox=\"0 0 {0:.0f} {1:.0f}\" font-family=\"sans-serif\" "
      "role=\"img\">\n<title>{2}</title>\n",
      kWidth, height, html_escape(title));
  for (std::size_t i = 0; i < series.size(); ++i) {
    const char* color = kPalette[i % std::size(kPalette)];
    out += fmt::format(
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"16\" height=\"4\" fill=\"{}\"/>"
        "<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"12\">{}</text>\n",
        legend[i].x, 16 + legend[i].y - 4, color, legend[i].x + 22, 16 + legend[i].y,
        html_escape(series[i].name));
  }
  // Gridlines and tick labels.
  for (int i = 0; i * ya.step <= ya.max + ya.step * 1e-6; ++i) {
    const double v = i * ya.step, y = py(v);
    out += fmt::format(
        "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e5e5e5\"/>"
        "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\" font-size=\"11\" "
        "fill=\"#444\">{}</text>\n",
        kPlotLeft, y, kPlotRight, y, kPlotLeft - 6, y + 4, tick_label(v, ya.step));
  }
  for (int i = 0; i * xa.step <= xa.max + xa.step * 1e-6; ++i) {
    const double v = i * xa.step, x = px(v);
    out += fmt::format(
        "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#444\"/>"
        "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"11\" "
        "fill=\"#444\">{}</text>\n",
        x, plot_bottom, x, plot_bottom + 5, x, plot_bottom + 18, tick_label(v, xa.step));
  }
  out += fmt::format(
      "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#444\"/>"
      "<line x1=\"{0:.1f}\" y1=\"{2:.1f}\" x2=\"{3:.1f}\" y2=\"{2:.1f}\" stroke=\"#444\"/>\n",
      kPlotLeft, plot_top, plot_bottom, kPlotRight);
  out += fmt::format(
      "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"12\">{}</text>\n",
      (kPlotLeft + kPlotRight) / 2, plot_bottom + 36, html_escape(x_label));
  out += fmt::format(
      "<text x=\"14\" y=\"{0:.1f}\" text-anchor=\"middle\" font-size=\"12\" "
      "transform=\"rotate(-90 14 {0:.1f})\">{1}</text>\n",
      (plot_top + plot_bottom) / 2, html_escape(y_label));

  bool any_point = false;
  for (std::size_t i = 0; i < series.size(); ++i) {
    const char* color = kPalette[i % std::size(kPalette)];
    std::string points;
    std::size_t n = 0;
    for (const auto& [x, y] : series[i].points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      points += fmt::format("{}{:.1f},{:.1f}", n == 0 ? "" : " ", px(std::max(x, 0.0)),
                            py(std::max(y, 0.0)));
      ++n;
    }
    any_point = any_point || n > 0;
    if (n == 1) {  // a one-point polyline draws nothing
      const auto comma = points.find(',');
      out += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{}\"/>\n",
                         points.substr(0, comma), points.substr(comma + 1), color);
    } else if (n > 1) {
      out += fmt::format(
          "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>\n", color,
          points);
    }
  }
  if (!any_point) {
    out += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"12\">no data</text>\n",
        (kPlotLeft + kPlotRight) / 2, (plot_top + plot_bottom) / 2);
  }
  out += "</svg>\n";
  return out;
}

void append_chart(const std::string& title, const std::string& y_label,
                  const std::vector<Series>& series, std::string& out) {
  out += "<figure>\n<figcaption>" + html_escape(title) + "</figcaption>\n";
  out += svg_line_chart(title, "time since start (s)", y_label, series);
  out += "</figure>\n";
}

// One series per group named in any sample; a group absent from a sample has no point there.
template <typename Value>
std::vector<Series> per_group_series(const std::vector<SecondSample>& samples,
                                     std::map<std::string, Value> SecondSample::*field) {
  std::set<std::string> names;
  for (const SecondSample& s : samples) {
    for (const auto& entry : s.*field) names.insert(entry.first);
  }
  std::vector<Series> out;
  for (const std::string& name : names) {
    Series series{name, {}};
    for (const SecondSample& s : samples) {
      const auto it = (s.*field).find(name);
      if (it != (s.*field).end()) {
        series.points.emplace_back(s.t_s, static_cast<double>(it->second));
      }
    }
    out.push_back(std::move(series));
  }
  return out;
}

void append_run_html(const RunReport& run, std::size_t index, std::string& out) {
  out +=
      fmt::format("<section id=\"run-{}\">\n<h2>{}</h2>\n", index + 1, html_escape(run_title(run)));
  if (!run.note.empty()) out += "<p class=\"note\">" + html_escape(run.note) + "</p>\n";
  out += fmt::format("<p>Orders scheduled and answered over {:.1f} s.</p>\n", run.duration_s);
  if (!run.settings.empty()) {
    out += "<h3>Settings</h3>\n";
    Table settings{{"setting", "value"}, {}};
    for (const auto& [key, value] : run.settings) settings.rows.push_back({key, value});
    append_html_table(settings, out);
  }
  out += "<h3>Orders</h3>\n";
  append_html_table(summary_table(run), out);
  out += "<h3>Consumer groups</h3>\n";
  append_html_table(group_table(run), out);

  Series offered{"offered", {}}, accepted{"accepted", {}}, accept_p99{"accept p99", {}};
  for (const SecondSample& s : run.series) {
    offered.points.emplace_back(s.t_s, s.offered_per_s);
    accepted.points.emplace_back(s.t_s, s.accepted_per_s);
    accept_p99.points.emplace_back(s.t_s, s.accept_p99_ms);
  }
  out += "<h3>Over time</h3>\n";
  append_chart("Offered vs accepted orders", "orders/s", {offered, accepted}, out);
  append_chart("Accept latency p99", "latency (ms)", {accept_p99}, out);
  append_chart("Consumer lag per group", "lag (messages)",
               per_group_series(run.series, &SecondSample::lag), out);
  append_chart("End-to-end latency p99 per group", "latency (ms)",
               per_group_series(run.series, &SecondSample::e2e_p99_ms), out);
  out += "</section>\n";
}

constexpr std::string_view kHtmlHead = R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Wharf checkout load report</title>
<style>
body { font-family: sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
table.numbers th, table.numbers td { text-align: right; }
th { background: #f3f3f3; }
figure { margin: 8px 0 20px; }
figcaption { font-weight: bold; margin-bottom: 4px; }
.note { font-style: italic; }
svg { font-family: sans-serif; }
</style>
</head>
<body>
<h1>Wharf checkout load report</h1>
)";

}  // namespace

std::string report_text(const RunReport& run) {
  std::string out = fmt::format("checkout run: {} (orders answered over {:.1f} s)\n",
                                run_title(run), run.duration_s);
  if (!run.note.empty()) out += run.note + "\n";
  if (!run.settings.empty()) {
    out += "settings:";
    for (const auto& [key, value] : run.settings) out += fmt::format(" {}={}", key, value);
    out += '\n';
  }
  out += '\n';
  append_text_table(summary_table(run), out);
  out += '\n';
  append_text_table(group_table(run), out);
  return out;
}

nlohmann::json report_json(const RunReport& run) {
  nlohmann::json groups = nlohmann::json::array();
  for (const GroupReport& g : run.groups) {
    groups.push_back({{"name", g.name},
                      {"handled", g.handled},
                      {"retries", g.retries},
                      {"dead_letters", g.dead_letters},
                      {"duplicates", g.duplicates},
                      {"e2e", snapshot_json(g.e2e)},
                      {"max_lag", g.max_lag},
                      {"final_lag", g.final_lag},
                      {"max_skew", g.max_skew}});
  }
  nlohmann::json series = nlohmann::json::array();
  for (const SecondSample& s : run.series) {
    series.push_back({{"t_s", s.t_s},
                      {"offered_per_s", s.offered_per_s},
                      {"accepted_per_s", s.accepted_per_s},
                      {"accept_p99_ms", s.accept_p99_ms},
                      {"lag", s.lag},
                      {"e2e_p99_ms", s.e2e_p99_ms}});
  }
  return {{"mode", run.mode},
          {"transport", run.transport},
          {"target_rate", run.target_rate},
          {"duration_s", run.duration_s},
          {"offered", run.offered},
          {"accepted", run.accepted},
          {"rejected", run.rejected},
          {"throughput_per_s", throughput_per_s(run)},
          {"accept", snapshot_json(run.accept)},
          {"groups", std::move(groups)},
          {"series", std::move(series)},
          {"settings", run.settings},
          {"note", run.note}};
}

std::string report_html(const std::vector<RunReport>& runs) {
  std::string out(kHtmlHead);
  if (runs.size() > 1) {
    out += "<h2>Comparison</h2>\n";
    append_html_table(comparison_table(runs), out);
  }
  for (std::size_t i = 0; i < runs.size(); ++i) append_run_html(runs[i], i, out);
  out += "</body>\n</html>\n";
  return out;
}

}  // namespace wharf::checkout
