// The captured headers of diagnosed flows as a pcapng file (--pcap), each packet with a comment that
// says why svctrace kept it, so Wireshark or tshark show svctrace's reasoning beside the bytes.
// The format: https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-03.html
// Written here rather than taken from a library: libpcap (Debian's libpcap0.8-dev) dumps classic pcap
// only, with no per-packet comment; Wireshark's libwiretap writes pcapng but is Wireshark's internal
// API (no stability promise across its releases) and brings GLib. Three block types need ~130 lines.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace svctrace {

// Builds one pcapng section in memory, for write_file_atomically() (output.h). Numbers are written
// in the host's byte order: the Section Header's byte-order magic tells readers which one it is.
class PcapngWriter {
 public:
  PcapngWriter();  // starts with the Section Header Block (shb_userappl "svctrace")

  // An Interface Description Block: LINKTYPE_RAW (101: packets start at the IPv4 or IPv6 header),
  // snaplen as given (0: no limit), if_name = name, if_description = description (omitted when
  // empty), timestamps in nanoseconds. Returns the interface's id for add_packet: 0, 1, ...
  uint32_t add_interface(std::string_view name, std::string_view description, uint32_t snaplen);

  // An Enhanced Packet Block: unix_ns, nanoseconds since the Unix epoch; data, the captured bytes
  // (cut to the interface's snaplen); wire_len, the packet's length on the wire (raised to the
  // captured length if below it); comment (omitted when empty, may hold several lines; cut at a
  // UTF-8 character to the 65535 bytes an option holds). Throws std::invalid_argument for an
  // interface add_interface did not return.
  void add_packet(uint32_t interface, uint64_t unix_ns, std::span<const uint8_t> data, uint32_t wire_len,
                  std::string_view comment);

  size_t packets() const { return packets_; }
  const std::string& bytes() const { return bytes_; }  // the file so far

 private:
  std::string bytes_;
  std::vector<uint32_t> snaplens_;  // by interface id
  size_t packets_ = 0;
};

}  // namespace svctrace
