"""Injection: `rules` (what, where, how often), `ruleset` (the rules in force), `matcher`
(their filters), `faults` (the registry), `forge` and `answer` (the API's errors), `network`
and `relay` (network faults, the slow relay), `windows` (emulated rate-limit windows), and the
`injector` that carries faults out over a flow's hooks."""
