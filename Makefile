# Two commands on a fresh machine:  make demo  ·  make test
VENV    ?= .venv
PY      := $(VENV)/bin/python
PIP     := $(PY) -m pip
EXAMPLE ?= examples/saleor/campaign.yaml
export OMP_THREAD_LIMIT := 1

.PHONY: demo test setup system-deps bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test]'
	touch $@

system-deps:
	@command -v tesseract >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr >/dev/null; \
	  else echo "tesseract-ocr is missing: sudo apt-get install -y tesseract-ocr (Debian/Ubuntu) or brew install tesseract (macOS)"; exit 1; fi; }
	@command -v exiftool >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libimage-exiftool-perl >/dev/null; } \
	  || echo "exiftool not installed (apt-get install libimage-exiftool-perl): its provenance read-back tests are skipped"

setup: system-deps $(VENV)/.installed

demo: setup
	$(VENV)/bin/brandflow validate $(EXAMPLE)
	$(VENV)/bin/brandflow run $(EXAMPLE)

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/campaign.py

clean:
	rm -rf $(VENV) examples/saleor/runs .pytest_cache
