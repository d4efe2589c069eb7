"""The HTML reports: one page per paper and an index (`render`), the view of a paper they show (`view`),
numbers as printed (`format`), inline SVG plots (`plots`, `latency_plot`) and benchmark results
(`performance`)."""
