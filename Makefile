# Two commands on a fresh machine:  make demo  ·  make test
VENV    ?= .venv
PY      := $(VENV)/bin/python
PIP     := $(PY) -m pip
EXAMPLE ?= examples/saleor/campaign.yaml
export OMP_THREAD_LIMIT := 1

.PHONY: demo test bench clean

# The test extra holds tesserocr, built from source against the system libtesseract (PIP_NO_BINARY): the PyPI
# wheel bundles another Tesseract version, whose OCR differs from the CLI the thresholds were calibrated on.
$(VENV)/.installed: pyproject.toml
	$(need_build)
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	PIP_NO_BINARY=tesserocr $(PIP) install -q -e '.[test]'
	touch $@

# Debian packages: Tesseract 5 for OCR QA; the tests also read provenance back with exiftool and drive the
# review page in Debian's chromium (Playwright launches it by path: it cannot download a browser here).
DEMO_TOOLS := tesseract:tesseract-ocr
TEST_TOOLS := $(DEMO_TOOLS) exiftool:libimage-exiftool-perl chromium:chromium
# to build tesserocr: Tesseract + Leptonica headers (found with pkg-config), a C++ compiler, Python headers
BUILD_PKGS := tesseract-ocr libtesseract-dev libleptonica-dev pkg-config g++ python3-dev
define need_build
	@if ! { pkg-config --exists tesseract lept && command -v g++ && \
	        python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.isfile(sysconfig.get_paths()["include"] + "/Python.h"))'; } >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BUILD_PKGS) >/dev/null; \
	  else echo "missing system packages: sudo apt-get install -y $(BUILD_PKGS) (Debian/Ubuntu)"; exit 1; fi; fi
endef
# Debian packages without a command to look for: fonts for every script compose sets (fallback chains, no tofu;
# colour emoji), FriBiDi (bidi order of runs in several fonts) and Tesseract language packs for the OCR of each
# market's language. Checked with dpkg.
SCRIPT_PKGS := fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji libfribidi0 tesseract-ocr-deu tesseract-ocr-ara \
               tesseract-ocr-jpn tesseract-ocr-heb tesseract-ocr-hin tesseract-ocr-kor tesseract-ocr-chi-sim tesseract-ocr-tha
define need_pkgs
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing system packages: sudo apt-get install -y$$missing (Debian/Ubuntu)"; exit 1; fi; fi
endef
define need
	@missing=""; for pair in $(1); do command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing system packages: sudo apt-get install -y$$missing (Debian/Ubuntu)"; exit 1; fi; fi
endef

demo: $(VENV)/.installed
	$(call need,$(DEMO_TOOLS))
	$(call need_pkgs,$(SCRIPT_PKGS))
	$(VENV)/bin/brandflow validate $(EXAMPLE)
	$(VENV)/bin/brandflow run $(EXAMPLE)

test: $(VENV)/.installed
	$(call need,$(TEST_TOOLS))
	$(call need_pkgs,$(SCRIPT_PKGS))
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	$(call need,$(DEMO_TOOLS))
	$(PY) bench/campaign.py --readme
	$(PY) bench/campaign.py --scales 32,128 --server long-lived --readme

clean:
	rm -rf $(VENV) examples/saleor/runs .pytest_cache
