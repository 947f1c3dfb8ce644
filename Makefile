# The README's two commands. Each does the whole fresh-machine set-up first (ops/bootstrap.sh).
.PHONY: demo test bootstrap lock settings-doc

bootstrap:
	@ops/bootstrap.sh

# Run the product: local broker, recorded sites, pollers, worker, desk.
demo: bootstrap
	.venv/bin/citycredit demo

# Run the whole test suite (unit, real-broker integration, end-to-end).
# pytest's exit 5 ("no tests collected") is a failure here, not a pass.
test: bootstrap
	@ops/install-test-deps.sh || echo "make test: could not install chromium/prometheus; the browser and Prometheus tests will say so" >&2
	@.venv/bin/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$status

# Re-pin dependencies after changing pyproject.toml.
lock:
	.venv/bin/python -m pip freeze --exclude-editable | grep -v '^citycredit' > requirements.lock

# Regenerate the settings table of docs/operating.md from the settings object.
settings-doc:
	.venv/bin/python -m citycredit.settings --update-readme docs/operating.md
