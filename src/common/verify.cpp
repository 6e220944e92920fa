#include "common/verify.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <thread>

#include "common/proto/messages.h"

namespace sparsync {
namespace {

using EvpCtx = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

EvpCtx new_sha256() {
  EvpCtx ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  return ctx;
}

std::string hex(const uint8_t* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

Status send_batch(FrameWriter* out, uint64_t first_region, std::vector<uint8_t>& batch) {
  if (out == nullptr || batch.empty()) return Status::ok();
  proto::VerifyDigests m{first_region, static_cast<uint32_t>(batch.size() / 32), std::move(batch)};
  batch.clear();
  return out->write(proto::MsgType::kVerifyDigests, proto::encode(m));
}

}  // namespace

Status digest_image(Device& device, uint64_t size, std::vector<uint8_t>* regions, uint8_t whole[32], FrameWriter* out,
                    Progress* progress) {
  static const std::vector<uint8_t> zeros(1 << 20, 0);
  std::vector<uint8_t> buf(1 << 20);
  EvpCtx all = new_sha256();
  EvpCtx region = new_sha256();
  std::vector<uint8_t> batch;
  uint64_t batch_first = 0;
  uint64_t pos = 0;
  while (pos < size) {
    uint64_t region_end = std::min(size, (pos / proto::kVerifyRegionBytes + 1) * proto::kVerifyRegionBytes);
    Extent ext;
    SPARSYNC_RETURN_IF_ERROR(device.next_extent(pos, region_end, &ext));
    uint64_t n = std::min<uint64_t>(ext.length, buf.size());
    const uint8_t* p = zeros.data();
    if (!ext.hole) {
      SPARSYNC_RETURN_IF_ERROR(device.read_at(pos, buf.data(), n));
      p = buf.data();
    }
    EVP_DigestUpdate(all.get(), p, n);
    EVP_DigestUpdate(region.get(), p, n);
    pos += n;
    if (progress != nullptr) progress->verified.store(pos);
    if (pos == region_end) {
      uint8_t d[32];
      EVP_DigestFinal_ex(region.get(), d, nullptr);
      EVP_DigestInit_ex(region.get(), EVP_sha256(), nullptr);
      regions->insert(regions->end(), d, d + 32);
      batch.insert(batch.end(), d, d + 32);
      if (batch.size() / 32 == proto::kVerifyDigestsPerFrame) {
        SPARSYNC_RETURN_IF_ERROR(send_batch(out, batch_first, batch));
        batch_first = regions->size() / 32;
      }
    }
  }
  SPARSYNC_RETURN_IF_ERROR(send_batch(out, batch_first, batch));
  EVP_DigestFinal_ex(all.get(), whole, nullptr);
  if (out != nullptr) {
    proto::VerifyEnd end;
    std::memcpy(end.digest, whole, 32);
    return out->write(proto::MsgType::kVerifyEnd, proto::encode(end));
  }
  return Status::ok();
}

Status exchange_verify(Device& device, uint64_t size, FrameReader& in, FrameWriter& out, VerifyOutcome* outcome,
                       Progress* progress) {
  std::vector<uint8_t> mine;
  uint8_t my_whole[32] = {};
  Status local;
  std::thread worker([&] { local = digest_image(device, size, &mine, my_whole, &out, progress); });

  std::vector<uint8_t> theirs;
  uint8_t their_whole[32] = {};
  Status remote;
  for (;;) {
    Frame f;
    remote = in.read(&f);
    if (!remote.is_ok()) break;
    if (f.type == proto::MsgType::kVerifyDigests) {
      proto::VerifyDigests d;
      remote = proto::decode(f.payload, &d);
      if (remote.is_ok() && d.first_region * 32 != theirs.size()) {
        remote = Status(ErrorKind::kProtocol, "peer sent verify digests out of order");
      }
      if (!remote.is_ok()) break;
      theirs.insert(theirs.end(), d.digests.begin(), d.digests.end());
    } else if (f.type == proto::MsgType::kVerifyEnd) {
      proto::VerifyEnd e;
      remote = proto::decode(f.payload, &e);
      if (remote.is_ok()) std::memcpy(their_whole, e.digest, 32);
      break;
    } else {
      remote = unexpected_frame(f, "VERIFY_DIGESTS or VERIFY_END");
      break;
    }
  }
  worker.join();
  SPARSYNC_RETURN_IF_ERROR(local);
  SPARSYNC_RETURN_IF_ERROR(remote);
  outcome->local_sha256 = hex(my_whole, 32);
  outcome->peer_sha256 = hex(their_whole, 32);
  outcome->match = std::memcmp(my_whole, their_whole, 32) == 0 && mine == theirs;
  if (!outcome->match) {
    size_t i = 0;
    while (i * 32 < std::min(mine.size(), theirs.size()) &&
           std::memcmp(mine.data() + i * 32, theirs.data() + i * 32, 32) == 0) {
      ++i;
    }
    outcome->first_difference = i * proto::kVerifyRegionBytes;
  }
  return Status::ok();
}

}  // namespace sparsync
