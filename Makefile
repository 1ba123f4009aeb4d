# Wharf's front door. Every target installs what it needs (Debian 12 packages) first.
#   make demo   build, then run the checkout reference system (about a minute)
#   make broker-demo  the broker walk-through with kcat and the Kafka AdminClient
#   make test   build and run every test through ctest
#   make asan   ASan+UBSan build and its tests
#   make bench  storage and broker benchmarks with fio and NATS references -> docs/benchmarks.md
BUILD_DIR ?= build
ASAN_DIR ?= build-asan
JOBS ?= $(shell nproc)
# Cache hits across checkouts in different folders (CI clones afresh).
export CCACHE_BASEDIR := $(CURDIR)

DEB_PACKAGES := cmake ninja-build g++ ccache pkg-config python3 \
  libexpected-dev libfmt-dev libspdlog-dev libcli11-dev nlohmann-json3-dev libasio-dev \
  libgtest-dev libgmock-dev libbenchmark-dev \
  zlib1g-dev libzstd-dev liblz4-dev libsnappy-dev \
  librdkafka-dev kcat python3-confluent-kafka \
  python3-kafka python3-snappy python3-lz4 python3-zstandard \
  golang-go golang-github-shopify-sarama-dev \
  prometheus curl \
  clang clang-format libclang-rt-14-dev fio nats-server libnats-dev \
  libsqlite3-dev libpq-dev postgresql libboost-dev

.PHONY: deps configure build test asan bench demo broker-demo format clean

deps:
	@bash scripts/install-deps.sh $(DEB_PACKAGES)

configure: deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)
	@echo "wharf CLI: $(BUILD_DIR)/bin/wharf"

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 900

asan: deps
	cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DWHARF_SANITIZE=ON -DWHARF_BENCH=OFF
	cmake --build $(ASAN_DIR) -j $(JOBS)
	cd $(ASAN_DIR) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 1800 -LE slow

bench: build
	bash bench/run.sh

DEMO_DIR ?= ./checkout-data
demo: build
	$(BUILD_DIR)/bin/wharf-checkout run --mode both --rate 4000 --duration 25 --slow email=50ms \
	  --data-dir $(DEMO_DIR)

broker-demo: build
	bash scripts/demo.sh $(BUILD_DIR)/bin/wharf

format:
	bash scripts/check-format.sh --fix

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR)
