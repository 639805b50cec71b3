# weir: the two commands a fresh machine needs are `make run` and `make test`.
#   make            build into build/
#   make run        build and run the bundled example (http://127.0.0.1:8080/)
#   make test       build and run every test (unit, integration, fuzz replay)
#   make test-apps  WordPress, MediaWiki, Django and Node on one weir in headless
#                   Chromium (minutes; installs their packages; not in `make test`)
#   make asan       build with ASan+UBSan into build-asan/ and run every test
#   make fuzz       build libFuzzer targets (clang) and fuzz each for FUZZ_SECONDS
#   make bench      benchmarks against nginx, h2o and lighttpd (not a test)
#   make cppcheck   static analysis
#   make install    build and install (meson install) under PREFIX (/usr/local),
#                   into DESTDIR if set (a staging directory for a package)
#   make deb        Debian packages into build-deb/ (DEB_VERSION=... for another version)
#   make test-deb   install, upgrade under load and purge the package (as root; not in make test)

BUILD        ?= build
PREFIX       ?= /usr/local
FUZZ_SECONDS ?= 60
# Test files run two per CPU: an integration test mostly waits on its
# servers (a 2-core machine, two at a time, was busy 75% of one CPU), and
# meson starts the longest files first (tests/integration/meson.build).
TEST_JOBS    ?= $(shell echo $$(($$(nproc) * 2)))
MESON_TEST   = meson test --print-errorlogs --num-processes $(TEST_JOBS)

.PHONY: all deps run test test-apps asan fuzz bench cppcheck install deb test-deb clean

all: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

deps:
	@scripts/install-deps

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized --prefix=$(PREFIX)

run: all
	./$(BUILD)/weir run -c examples/weir.conf

test: all
	$(MESON_TEST) -C $(BUILD)
	@scripts/test-summary $(BUILD)

# Screenshots of each application's key page: $(BUILD)/test-apps/ (not committed).
test-apps: all
	@scripts/install-deps apps
	WEIR_BIN=$(CURDIR)/$(BUILD)/weir WEIR_SRC=$(CURDIR) WEIR_APPS_SHOTS=$(CURDIR)/$(BUILD)/test-apps \
	    timeout 420 pytest-3 -v -s -p no:cacheprovider tests/apps_e2e/test_four_apps.py

build-asan/build.ninja:
	CC=clang meson setup build-asan --buildtype=debug \
	    -Db_sanitize=address,undefined -Db_lundef=false

asan: deps build-asan/build.ninja
	ninja -C build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(MESON_TEST) -C build-asan --timeout-multiplier 3
	@scripts/test-summary build-asan

build-fuzz/build.ninja:
	CC=clang meson setup build-fuzz --buildtype=debugoptimized -Dfuzz=true \
	    -Db_sanitize=address,undefined -Db_lundef=false

FUZZ_TARGETS = $(patsubst %.c,%,$(wildcard fuzz/fuzz_*.c))

fuzz: deps build-fuzz/build.ninja
	ninja -C build-fuzz $(FUZZ_TARGETS)
	scripts/fuzz-smoke build-fuzz $(FUZZ_SECONDS)

bench: all
	@scripts/install-deps bench
	/usr/bin/python3 bench/run.py --weir ./$(BUILD)/weir

cppcheck:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	    --inline-suppr --std=c11 -D_GNU_SOURCE --library=scripts/jansson.cfg \
	    -I src/common -I include \
	    -I src/frontend -I src/master src/ modules/

# The prefix is compiled in (weir's fallback <libdir>/weir), so a build set up
# for another prefix is reconfigured and rebuilt first.  DESTDIR only stages:
# the files still name PREFIX.
install: all
	@[ "$$(meson introspect --buildoptions $(BUILD) | /usr/bin/python3 -c \
	    'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"][0])')" \
	    = "$(PREFIX)" ] || { meson configure $(BUILD) -Dprefix=$(PREFIX) && ninja -C $(BUILD); }
	meson install -C $(BUILD) --no-rebuild $(if $(DESTDIR),--destdir "$(DESTDIR)")
deb:
	scripts/make-deb $(DEB_VERSION)

# installs weir system-wide (apt), so it is not part of make test
test-deb: all
	WEIR_SRC=$(CURDIR) pytest-3 -q -s -p no:cacheprovider tests/deb/test_deb.py

clean:
	rm -rf build build-asan build-fuzz
