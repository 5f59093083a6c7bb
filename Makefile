# Two-command entry: `make run` and `make test`. Everything else is optional.
PRESET ?= release
JOBS   ?= 2
BUILD  := build/$(PRESET)
export SC_COPYRIGHT_MESSAGE := DISABLE

.PHONY: run test deps configure build bench coverage format format-check clean help

help:
	@echo "make run           install missing packages, build, run smmu-sim (RUN_ARGS=... passes arguments)"
	@echo "make test          install missing packages, build, run every test"
	@echo "make bench         build and run smmu-bench, the host-time benchmark (BENCH_ARGS=...)"
	@echo "make coverage      line coverage of model/ and driver/ (report in build/coverage-report/)"
	@echo "make format        apply .clang-format;  make format-check: verify it"
	@echo "PRESET=debug|release|asan|coverage selects the CMake preset (default: release)"

deps:
	@scripts/install-deps.sh

configure: deps
	@test -f $(BUILD)/build.ninja || cmake --preset $(PRESET) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@$(BUILD)/bin/smmu-sim $(RUN_ARGS)

test: build
	@ctest --preset $(PRESET) -j $(JOBS)

bench: configure
	@cmake --build $(BUILD) -j $(JOBS) --target smmu_benchmark
	@$(BUILD)/bin/smmu-bench $(BENCH_ARGS)

coverage:
	@scripts/install-deps.sh --coverage
	@find build/coverage -name '*.gcda' -delete 2>/dev/null || true
	@$(MAKE) --no-print-directory test PRESET=coverage
	@mkdir -p build/coverage-report
	@gcovr --root . --filter 'model/' --filter 'driver/' \
	    --html-details build/coverage-report/index.html --txt build/coverage-report/summary.txt \
	    --print-summary build/coverage
	@echo "per-file report: build/coverage-report/summary.txt, build/coverage-report/index.html"

format:
	@scripts/install-deps.sh --format
	@git ls-files '*.h' '*.cpp' | xargs clang-format -i

format-check:
	@scripts/install-deps.sh --format
	@git ls-files '*.h' '*.cpp' | xargs clang-format --dry-run --Werror

clean:
	@rm -rf build
