.PHONY: run test bench lint

run:   ## set up and serve the demo centre on SQLite
	scripts/run.sh

test:  ## set up and run every test, on SQLite and PostgreSQL
	scripts/test.sh

bench: ## run the throughput benchmark (raw engine vs service vs HTTP)
	scripts/setup.sh dev && .venv/bin/python -m bench.throughput

lint:
	.venv/bin/ruff check app workflows tests bench config.py && .venv/bin/ruff format --check app workflows tests bench config.py
