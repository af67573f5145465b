# Two entry points for people and CI: `make demo` and `make test`.
# Both create .venv when missing and install the project into it (editable, with test extras).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck install docs bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,cuda,onnx,mpi,viz,tensorboard]'
	$(BIN)/python -m pip install --quiet --no-deps -e examples/numpy_backend
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/train_digits_mlp.py

lint: $(STAMP)
	$(BIN)/ruff check .

# mypy over xlalite/, passes/ and backends/ as the one package xlalite they install as: a
# tree of links puts passes/ and backends/ where setuptools' package-dir mapping puts them
TYPECHECK := build/typecheck
typecheck: $(STAMP)
	rm -rf $(TYPECHECK) && mkdir -p $(TYPECHECK)/xlalite
	for f in xlalite/*; do ln -s ../../../$$f $(TYPECHECK)/xlalite/; done
	ln -s ../../../passes $(TYPECHECK)/xlalite/passes
	ln -s ../../../backends $(TYPECHECK)/xlalite/backends
	cd $(TYPECHECK) && ../../$(BIN)/mypy --config-file ../../pyproject.toml -p xlalite

test: $(STAMP)
	$(BIN)/ruff check .
	$(MAKE) typecheck
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

docs: $(STAMP)
	$(BIN)/python docs/gen_op_table.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/run.py
	$(BIN)/python bench/train.py
