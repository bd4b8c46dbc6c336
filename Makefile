.PHONY: run test bench lint translations

run:   ## set up and serve the demo centre on SQLite
	scripts/run.sh

test:  ## set up and run every test, on SQLite and PostgreSQL
	scripts/test.sh

bench: ## run every benchmark (BENCH_ARGS="--scale-database URL" for the 1M-case database)
	scripts/setup.sh dev && .venv/bin/python -m bench.all $(BENCH_ARGS)

lint:
	.venv/bin/ruff check app workflows tests bench config.py && .venv/bin/ruff format --check app workflows tests bench config.py

translations: ## re-extract UI strings, merge them into each catalogue, compile
	.venv/bin/pybabel extract -F babel.cfg -k _l --project=OneWindow --version=0.1.0 -o app/translations/messages.pot app
	.venv/bin/pybabel update -i app/translations/messages.pot -d app/translations
	.venv/bin/pybabel compile -d app/translations
