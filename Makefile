# Thin front for CMake. `make test` and `make bench` install what is missing.
BUILD ?= build
JOBS  ?= $(shell nproc)
# Tests run two per CPU: most of the suite waits (timeouts, heartbeats, a
# nats-server's elections), not computes: at one per CPU the 2-core CI
# machine used about a third of its CPU time and took 142-152 s, at two
# per CPU 74-94 s (the sanitizer stress run before a stop uses -j4 too).
# COST properties start the longest tests first in a fresh build.
TEST_JOBS ?= $(shell echo $$(( $$(nproc) * 2 )))
# make install PREFIX=/opt/mbx DESTDIR=/tmp/stage: files go to $(DESTDIR)$(PREFIX)/...
PREFIX  ?= /usr/local
DESTDIR ?=

.PHONY: all deps build install package test bench bench-full asan tsan valgrind mutants model builds clean format

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DMBX_WERROR=ON >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# Installs what `make` built, brought up to date first (configured and
# built from scratch when there is no build yet; after `make`, sudo make
# install compiles nothing as root). NOBUILD=1 installs the build as it
# stands (install_test does, from inside ctest). Then, as root and without
# DESTDIR, ldconfig, so the loader finds a new libmbx.so.0 in /usr/local/lib
# at once.
install:
	@test -f $(BUILD)/CMakeCache.txt || $(MAKE) --no-print-directory build
	@test -n "$(NOBUILD)" || cmake --build $(BUILD) -j$(JOBS) >/dev/null
	@DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" -eq 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi

# The Debian packages libmbx0, libmbx-dev and mbx-tools (cmake/packaging.cmake),
# from a release build for /usr of its own: $(BUILD)-package/*.deb.
package: deps
	@cmake -S . -B $(BUILD)-package -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
		-DMBX_WERROR=ON -DMBX_BUILD_TESTS=OFF -DMBX_BUILD_BENCH=OFF >/dev/null
	@cmake --build $(BUILD)-package -j$(JOBS)
	@cd $(BUILD)-package && cpack -G DEB
	@ls $(BUILD)-package/*.deb

test: build
	@cd $(BUILD) && MBX_DIR= ctest --output-on-failure -j$(TEST_JOBS)

bench: build
	@$(BUILD)/bench/mbx-bench --quick --out $(BUILD)/bench

bench-full: build
	@$(BUILD)/bench/mbx-bench --full --out $(BUILD)/bench

asan: deps
	@cmake -S . -B $(BUILD)-asan -DMBX_SANITIZE=ON -DMBX_WERROR=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(BUILD)-asan -j$(JOBS)
	@cd $(BUILD)-asan && ctest --output-on-failure -j$(JOBS)

# The other ways the library is built, each with warnings as errors: an
# optimised release build (with its symbol check), clang, and the library
# alone (no tests, tools or benchmark, nothing but a C compiler and CMake).
builds: deps
	@cmake -S . -B $(BUILD)-release -DCMAKE_BUILD_TYPE=Release -DMBX_WERROR=ON -DMBX_BUILD_BENCH=OFF >/dev/null
	@cmake --build $(BUILD)-release -j$(JOBS)
	@cd $(BUILD)-release && ctest --output-on-failure -R '^symbols_test$$'
	@if command -v clang >/dev/null; then \
		CC=clang cmake -S . -B $(BUILD)-clang -DMBX_WERROR=ON -DMBX_BUILD_BENCH=OFF >/dev/null && \
		cmake --build $(BUILD)-clang -j$(JOBS); \
	else echo "builds: clang not installed (apt-get install clang): skipped"; fi
	@cmake -S . -B $(BUILD)-lib -DMBX_WERROR=ON -DMBX_BUILD_TESTS=OFF -DMBX_BUILD_TOOLS=OFF \
		-DMBX_BUILD_BENCH=OFF >/dev/null
	@cmake --build $(BUILD)-lib -j$(JOBS)

# ThreadSanitizer over the tests that share handles between threads.
TSAN_TESTS := multiprocess_test api_test call_test stream_test security_test monitor_test poll_test confirm_test \
	tcp_test unload_test
tsan: deps
	@cmake -S . -B $(BUILD)-tsan -DMBX_TSAN=ON -DMBX_WERROR=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(BUILD)-tsan -j$(JOBS) $(addprefix --target ,$(TSAN_TESTS))
	@cd $(BUILD)-tsan && TSAN_OPTIONS=exitcode=66 ctest --output-on-failure \
		-R '^($(subst $(eval) ,|,$(TSAN_TESTS)))$$'

# Valgrind memcheck over the multi-process tests (a few minutes; not in CI).
valgrind: build
	@for q in ring heap; do for t in multiprocess_test crash_test; do \
		echo "== valgrind $$t ($$q)"; \
		MBX_QUEUE=$$q MBX_SPIN_NS=0 valgrind -q --error-exitcode=9 --leak-check=full \
			--errors-for-leak-kinds=definite $(BUILD)/tests/$$t >/dev/null || exit 1; \
	done; done; echo "valgrind: clean"

# The mutation check: each mutation of tests/mutants/mutants.txt, applied
# alone to a scratch copy of the tree, must make the tests it names fail
# (about 10-15 minutes on two busy cores, most of it the baseline and the
# cli and fuzz tests; CI runs the ones flagged quick, 1-3 minutes).
mutants:
	@MUTANT_JOBS=$(JOBS) tests/mutants/run.sh

# The ring's slot protocol checked with SPIN (tests/model; README, "The
# ring's protocol, model checked"). CI runs --quick.
model:
	@tests/model/run.sh --full

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	@rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-tsan $(BUILD)-package
