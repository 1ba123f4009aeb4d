#include "kafka/server/producer_ids.h"

#include "base/crc32c.h"
#include "storage/limits.h"

namespace wharf::kafka {
namespace {
constexpr std::uint32_t kMagic = 0x57504944;  // "WPID"
}

Result<std::unique_ptr<ProducerIdAllocator>> ProducerIdAllocator::open(io::FileSystem& fs,
                                                                       std::string data_dir) {
  std::string path = io::join_path(data_dir, "producer_ids");
  std::int64_t start = 0;
  WHARF_ASSIGN_OR_RETURN(bool exists, fs.exists(path));
  if (exists) {
    WHARF_ASSIGN_OR_RETURN(Bytes raw, io::read_file(fs, path, storage::kMetadataFileBytesMax));
    if (raw.size() != 16 || load_be<std::uint32_t>(raw, 0) != kMagic ||
        load_be<std::uint32_t>(raw, 4) != crc32c::value(ByteView(raw).subspan(8))) {
      return fail(ErrorCode::kCorruption,
                  "{} is damaged; refusing to start, since reusing a producer id would let a "
                  "new producer's batches be taken for an old one's duplicates",
                  path);
    }
    start = load_be<std::int64_t>(raw, 8);
  }
  return std::unique_ptr<ProducerIdAllocator>(new ProducerIdAllocator(fs, std::move(path), start));
}

Result<ProducerId> ProducerIdAllocator::next() {
  std::lock_guard lock(mu_);
  if (next_ >= block_end_) {
    Bytes raw(16);
    store_be<std::uint32_t>(raw, 0, kMagic);
    store_be<std::int64_t>(raw, 8, block_end_ + kBlockSize);
    store_be<std::uint32_t>(raw, 4, crc32c::value(ByteView(raw).subspan(8)));
    WHARF_RETURN_IF_ERROR(io::write_file_atomic(fs_, path_, raw));
    next_ = block_end_;
    block_end_ += kBlockSize;
  }
  return ProducerId(next_++);
}

}  // namespace wharf::kafka
