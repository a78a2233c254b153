# The two commands of the README:  `make run`  and  `make test`.
.PHONY: run test setup lint typecheck format bench clean lock intent-corpus

setup:
	@bash scripts/setup.sh

run: setup
	.venv/bin/xiaozhi-ops serve

# two workers (pytest-xdist): most of the long tests wait on real-time audio, not on the CPU
test: setup
	.venv/bin/python -m pytest -q -n 2

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

# mypy over server/, agents/, firmware_bridge/ (config in pyproject.toml: strict on agents/ and firmware_bridge/)
typecheck:
	.venv/bin/mypy

# Re-resolve requirements.lock (exact versions + hashes) after a dependency change in pyproject.toml.
lock:
	@bash scripts/lock.sh

format:
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .

bench: setup
	.venv/bin/python -m bench.run_all

clean:
	rm -rf data/* analysis_results/* .pytest_cache
	touch data/.gitkeep analysis_results/.gitkeep

# Rewrite the classifier's second training file from the phrase bank's tuning sets (scripts/intent_corpus.py);
# with RECOGNIZER=<the spoken bench's heard-pad*.json> also its third, what Whisper heard of those sets.
intent-corpus:
	.venv/bin/python scripts/intent_corpus.py $(if $(RECOGNIZER),--recognizer $(RECOGNIZER)) $(if $(KEEP),--keep)
