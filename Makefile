# Two entry points for people and CI: `make demo` and `make test`.
# Both create .venv when missing and install the project into it (editable, with test extras).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install docs bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,cuda]'
	$(BIN)/python -m pip install --quiet --no-deps -e examples/numpy_backend
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/train_digits_mlp.py

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

docs: $(STAMP)
	$(BIN)/python docs/gen_op_table.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis

bench: $(STAMP)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/train.py
