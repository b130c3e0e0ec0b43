# Two commands on a fresh machine:  make demo  ·  make test
VENV    ?= .venv
PY      := $(VENV)/bin/python
PIP     := $(PY) -m pip
EXAMPLE ?= examples/saleor/campaign.yaml
export OMP_THREAD_LIMIT := 1

.PHONY: demo test bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test]'
	touch $@

# Debian packages: Tesseract 5 for OCR QA; the tests also read provenance back with exiftool.
DEMO_TOOLS := tesseract:tesseract-ocr
TEST_TOOLS := $(DEMO_TOOLS) exiftool:libimage-exiftool-perl
define need
	@missing=""; for pair in $(1); do command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing system packages: sudo apt-get install -y$$missing (Debian/Ubuntu)"; exit 1; fi; fi
endef

demo: $(VENV)/.installed
	$(call need,$(DEMO_TOOLS))
	$(VENV)/bin/brandflow validate $(EXAMPLE)
	$(VENV)/bin/brandflow run $(EXAMPLE)

test: $(VENV)/.installed
	$(call need,$(TEST_TOOLS))
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	$(call need,$(DEMO_TOOLS))
	$(PY) bench/campaign.py

clean:
	rm -rf $(VENV) examples/saleor/runs .pytest_cache
