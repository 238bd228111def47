"""The report: `tables` counts (pure), `render` shows (text, JSON, HTML), `reporter` is the
component in the proxy, `cli` the offline `twerr report`."""
