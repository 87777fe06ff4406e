# Two commands on a fresh machine:  make run  (API on the shipped model)  and  make test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000

.PHONY: image-test run test lint data train retrain evaluate bench batch dashboard clean-venv bench-smoke bench-peers

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.serve: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.serve requirements-dev.txt requirements-train.txt requirements-ray.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt -r requirements-train.txt
	touch $@

run: $(VENV)/.serve  ## serve the API with gunicorn on the shipped model (port $(PORT))
	PORT=$(PORT) $(BIN)/gunicorn -c api/gunicorn.conf.py api.wsgi:app

test: $(VENV)/.dev  ## the whole test suite
	$(BIN)/python -m pytest -q

lint: $(VENV)/.dev
	$(BIN)/ruff check src api monitoring tests bench

data: $(VENV)/.dev  ## verify the dataset and write data/splits/
	$(BIN)/python -m fashion_classifier.data

train: $(VENV)/.dev  ## full training run (about an hour on 2 cores), then evaluation
	$(BIN)/python -m fashion_classifier.training.train

retrain: $(VENV)/.dev  ## candidate model from the clerks' corrections (models/versions/; promote it with python -m fashion_classifier.models)
	$(BIN)/python -m fashion_classifier.training.retrain

evaluate: $(VENV)/.dev
	$(BIN)/python -m fashion_classifier.training.evaluate

batch: $(VENV)/.serve  ## one nightly batch run now
	$(BIN)/python src/batch_processor.py

dashboard: $(VENV)/.serve  ## monitoring dashboard and review queue on http://localhost:8050
	$(BIN)/python monitoring/dashboard.py

# podman, buildah, runc, mmdebstrap from Debian (.ci/run installs them); docs/OPERATIONS.md
image-test: $(VENV)/.dev  ## build the container images with podman and test them as containers
	CONTAINERS_CONF=$(CURDIR)/.ci/containers.conf FASHION_IMAGE_TEST=1 \
		$(BIN)/python -m pytest tests/test_image.py -q -s -p no:cacheprovider

clean-venv:
	rm -rf $(VENV)

SMOKE ?= /tmp/fashion-bench-smoke
bench-smoke: $(VENV)/.dev  ## quick benchmarks: the side-by-side ratios in the log, docs untouched
	mkdir -p $(SMOKE)
	$(BIN)/python bench/bench_predictor.py --quick --out $(SMOKE)/predictor.md
	$(BIN)/python bench/bench_api.py --quick --out $(SMOKE)/api.md
	$(BIN)/python bench/bench_batch.py --quick
	$(BIN)/python bench/bench_ray.py --quick
	$(BIN)/python bench/bench_threads.py --quick --out $(SMOKE)/threads.md

# the peers (FastAPI, uvicorn, LitServe, BentoML) in their own venv, never in $(VENV): they
# would move the product's pins (starlette, prometheus-client, ...)
BENCH_VENV ?= .venv-bench
PEERS_ARGS ?=
$(BENCH_VENV)/.bench: requirements.txt requirements-bench.txt pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/pip install --quiet -r requirements.txt
	$(BENCH_VENV)/bin/pip install --quiet --no-deps -e .
	$(BENCH_VENV)/bin/pip install --quiet -r requirements-bench.txt
	touch $@

bench-peers: $(BENCH_VENV)/.bench  ## the same Predictor behind ours, Flask, FastAPI, LitServe, BentoML (docs/benchmarks/peers.md; PEERS_ARGS=--quick)
	$(BENCH_VENV)/bin/python bench/bench_peers.py $(PEERS_ARGS)
