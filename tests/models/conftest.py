"""The corpus programs are model code to run, not tests: pytest never collects them."""

collect_ignore_glob = ["corpus/*"]
