# The README's two commands. Each does the whole fresh-machine set-up first (ops/bootstrap.sh).
.PHONY: demo test bench bootstrap lock settings-doc

bootstrap:
	@ops/bootstrap.sh

# Run the product: local broker, recorded sites, pollers, worker, desk.
demo: bootstrap
	.venv/bin/citycredit demo

# Run the whole test suite (unit, real-broker integration, end-to-end).
# pytest's exit 5 ("no tests collected") is a failure here, not a pass.
test: bootstrap
	@ops/install-test-deps.sh || echo "make test: could not install chromium/prometheus; the browser and Prometheus tests will say so" >&2
	@# the reader's training code is tested too (tests/unit/test_reader_model.py): the train extra
	@.venv/bin/python -c "import sklearn" 2>/dev/null || .venv/bin/python -m pip install -q -e '.[train]'
	@.venv/bin/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$status

# Run every speed benchmark of bench/ (several minutes) and print one table of figures,
# same-run baselines, ratios and targets; docs/benchmarks.md keeps the latest. Options:
# BENCH_ARGS='--base main' (compare the clusterer with main's), '--only bench_index.py', '--quick'.
# cpca (the [bench] extra) is the classification bench's same-run baseline.
bench: bootstrap
	@.venv/bin/python -c "import cpca" 2>/dev/null || .venv/bin/python -m pip install -q -e '.[bench]' \
		|| echo "make bench: could not install cpca; the classification row will have no baseline" >&2
	.venv/bin/citycredit bench --write docs/benchmarks.md $(BENCH_ARGS)

# Re-pin dependencies after changing pyproject.toml.
lock:
	.venv/bin/python -m pip freeze --exclude-editable | grep -v '^citycredit' > requirements.lock

# Regenerate the settings table of docs/operating.md from the settings object.
settings-doc:
	.venv/bin/python -m citycredit.settings --update-readme docs/operating.md
