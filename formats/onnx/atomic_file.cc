#include "formats/onnx/atomic_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lib/ir/error.h"

namespace dyad {

namespace fs = std::filesystem;

AtomicFile::AtomicFile(fs::path target) : target_(std::move(target)) {
  fs::path dir = target_.parent_path().empty() ? fs::path(".") : target_.parent_path();
  if (!fs::is_directory(dir)) fail("cannot write '{}': folder '{}' does not exist", target_.string(), dir.string());
  // A hidden sibling. (fmt, because GCC 12 warns falsely about std::string concatenation here.)
  const std::string temp_name = fmt::format(".{}.tmp-XXXXXX", target_.filename().string());
  std::string pattern = (dir / temp_name).string();
  int fd = mkstemp(pattern.data());
  if (fd < 0) fail("cannot write '{}': {}", target_.string(), std::strerror(errno));
  temp_ = pattern;
  file_ = fdopen(fd, "wb");
  if (!file_) {
    ::close(fd);
    fs::remove(temp_);
    fail("cannot write '{}': {}", target_.string(), std::strerror(errno));
  }
}

AtomicFile::~AtomicFile() {
  if (file_) std::fclose(file_);
  if (!committed_) {
    std::error_code ec;
    fs::remove(temp_, ec);
  }
}

void AtomicFile::write(const void* data, size_t bytes) {
  if (bytes && std::fwrite(data, 1, bytes, file_) != bytes)
    fail("cannot write '{}': {}", target_.string(), std::strerror(errno));
  written_ += bytes;
}

void AtomicFile::commit() {
  if (std::fflush(file_) != 0 || fsync(fileno(file_)) != 0)
    fail("cannot write '{}': {}", target_.string(), std::strerror(errno));
  std::fclose(file_);
  file_ = nullptr;
  // mkstemp creates 0600; give the file the usual permissions of a new file.
  mode_t mask = umask(0);
  umask(mask);
  fs::permissions(temp_, static_cast<fs::perms>(0666 & ~mask));
  std::error_code ec;
  fs::rename(temp_, target_, ec);
  if (ec) fail("cannot write '{}': {}", target_.string(), ec.message());
  committed_ = true;
}

void refuse_overwrite(const fs::path& output, const fs::path& input) {
  std::error_code ec;
  bool same = fs::exists(output, ec) && fs::exists(input, ec) && fs::equivalent(output, input, ec);
  if (!same) same = fs::weakly_canonical(output, ec) == fs::weakly_canonical(input, ec);
  if (same)
    throw Error("output path '" + output.string() + "' is the input model; refusing to overwrite it",
                Error::Kind::Usage);
}

}  // namespace dyad
