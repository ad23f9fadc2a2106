# The README's two commands are `make run` and `make test`; everything else is a helper for them.
.PHONY: run test drills lint format bench venv clean

VENV_STAMP := .venv/.installed

venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml requirements/constraints.txt .python-version
	scripts/bootstrap.sh
	touch $@

run: venv  ## the product: embedded Redis, SQLite, demo retailer, web, worker and scheduler (Ctrl-C stops all)
	.venv/bin/python scripts/run.py

test: venv  ## the whole suite (PostgreSQL and Redis when found; see scripts/test.sh)
	scripts/test.sh

drills: venv  ## only the reliability drills of tests/drills (make test runs them too; make bench with figures)
	TEST_WORKERS=0 scripts/test.sh tests/drills

lint: venv
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports --no-cache --no-logo
	DEBUG=1 .venv/bin/python manage.py makemigrations --check --dry-run

format: venv
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

bench: venv  ## every benchmark at a size that finishes in a few minutes (--full for the issue sizes)
	.venv/bin/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf .venv var
