#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "traces/workload.h"

namespace smmu::traces {
namespace {

workload parse(const std::string& text) {
    std::istringstream in(text);
    return parse_workload(in, "t.trace");
}

/// The what() of the trace_error that parsing `text` throws, or "no error".
std::string error_of(const std::string& text) {
    try {
        parse(text);
    } catch (const trace_error& e) {
        return e.what();
    }
    return "no error";
}

template <typename T>
const T& body(const workload& w, std::size_t index) {
    return std::get<T>(w.ops.at(index).body);
}

const std::string domain_a = "domain name=a type=s1\n";

// ---------------------------------------------------------------------------------------------
// Lines and timing

TEST(workload_lines, comments_blank_lines_and_crlf_are_ignored) {
    workload w = parse("# header\n"
                       "\n"
                       "   \t \n"
                       "domain name=a type=s1   # trailing comment\r\n"
                       "\tdetach sid=1\r\n"
                       "#only=comment map\n");
    ASSERT_EQ(w.ops.size(), 2U);
    EXPECT_EQ(w.ops[0].line, 4U);
    EXPECT_EQ(w.ops[1].line, 5U);
    EXPECT_EQ(body<domain_op>(w, 0).name, "a");
    EXPECT_EQ(body<detach_op>(w, 1).sid, 1U);
    EXPECT_EQ(w.file_name, "t.trace");
}

TEST(workload_lines, empty_input_is_an_empty_workload) {
    EXPECT_TRUE(parse("").ops.empty());
    EXPECT_TRUE(parse("# nothing\n\n").ops.empty());
}

TEST(workload_timing, prefixes_and_units) {
    workload w = parse("@250 detach sid=1\n"
                       "@1.5us detach sid=1\n"
                       "@1500ns detach sid=1\n"
                       "@2ms detach sid=1\n"
                       "@1s detach sid=1\n"
                       "+ detach sid=1\n"
                       "+10ns detach sid=1\n"
                       "+3ps detach sid=1\n"
                       "+0.25us detach sid=1\n"
                       "& detach sid=1\n"
                       "detach sid=1\n"
                       "+1.000ns detach sid=1\n"
                       "+18446744073709551615ps detach sid=1\n");
    ASSERT_EQ(w.ops.size(), 13U);
    EXPECT_EQ(w.ops[0].when, (timing{timing_kind::absolute, 250'000}));
    EXPECT_EQ(w.ops[1].when, (timing{timing_kind::absolute, 1'500'000}));
    EXPECT_EQ(w.ops[2].when, (timing{timing_kind::absolute, 1'500'000}));
    EXPECT_EQ(w.ops[3].when, (timing{timing_kind::absolute, 2'000'000'000}));
    EXPECT_EQ(w.ops[4].when, (timing{timing_kind::absolute, 1'000'000'000'000}));
    EXPECT_EQ(w.ops[5].when, (timing{timing_kind::after_previous, 0}));
    EXPECT_EQ(w.ops[6].when, (timing{timing_kind::after_previous, 10'000}));
    EXPECT_EQ(w.ops[7].when, (timing{timing_kind::after_previous, 3}));
    EXPECT_EQ(w.ops[8].when, (timing{timing_kind::after_previous, 250'000}));
    EXPECT_EQ(w.ops[9].when, (timing{timing_kind::with_previous, 0}));
    EXPECT_EQ(w.ops[10].when, (timing{timing_kind::after_previous, 0}));
    EXPECT_EQ(w.ops[11].when, (timing{timing_kind::after_previous, 1'000}));
    EXPECT_EQ(w.ops[12].when, (timing{timing_kind::after_previous, 18446744073709551615ULL}));
}

TEST(workload_timing, absolute_times_may_repeat_but_not_decrease) {
    EXPECT_EQ(error_of("@2us detach sid=1\n"
                       "+ detach sid=1\n"
                       "@1us detach sid=1\n"),
              "t.trace:3: time '@1us' is earlier than @2us on line 1");
    EXPECT_EQ(error_of("@2us detach sid=1\n@2000ns detach sid=1\n"), "no error");
}

TEST(workload_timing, with_previous_needs_a_previous_operation_and_no_time) {
    EXPECT_EQ(error_of("# first\n& detach sid=1\n"),
              "t.trace:2: '&' on the first operation: there is no operation to issue it with");
    EXPECT_EQ(error_of("detach sid=1\n&5ns detach sid=1\n"),
              "t.trace:2: bad time '&5ns': '&' takes no time");
}

TEST(workload_timing, malformed_times_name_the_token) {
    EXPECT_EQ(error_of("@1.5xs detach sid=1"),
              "t.trace:1: bad time '@1.5xs': unknown unit 'xs' (ps, ns, us, ms, s)");
    EXPECT_EQ(error_of("@ detach sid=1"), "t.trace:1: bad time '@': expected a number like 1.5us");
    EXPECT_EQ(error_of("+us detach sid=1"),
              "t.trace:1: bad time '+us': expected a number like 1.5us");
    EXPECT_EQ(error_of("@1.us detach sid=1"),
              "t.trace:1: bad time '@1.us': expected a number like 1.5us");
    EXPECT_EQ(error_of("@.5us detach sid=1"),
              "t.trace:1: bad time '@.5us': expected a number like 1.5us");
    EXPECT_EQ(error_of("@1.2.3us detach sid=1"),
              "t.trace:1: bad time '@1.2.3us': expected a number like 1.5us");
    EXPECT_EQ(error_of("@0x10 detach sid=1"),
              "t.trace:1: bad time '@0x10': unknown unit 'x10' (ps, ns, us, ms, s)");
}

TEST(workload_timing, times_finer_than_a_picosecond_are_rejected) {
    EXPECT_EQ(error_of("@0.5ps detach sid=1"), "t.trace:1: bad time '@0.5ps': finer than 1 ps");
    EXPECT_EQ(error_of("@1.0005ns detach sid=1"),
              "t.trace:1: bad time '@1.0005ns': finer than 1 ps");
    EXPECT_EQ(error_of("+1.0000000000001s detach sid=1"),
              "t.trace:1: bad time '+1.0000000000001s': finer than 1 ps");
}

TEST(workload_timing, times_beyond_64_bit_picoseconds_are_out_of_range) {
    // 2^64 ps = 18446744073709551616 ps.
    EXPECT_EQ(error_of("+18446744073709551616ps detach sid=1"),
              "t.trace:1: bad time '+18446744073709551616ps': out of range");
    // 18446745 s = 1.8446745e19 ps > 2^64 ps.
    EXPECT_EQ(error_of("@18446745s detach sid=1"),
              "t.trace:1: bad time '@18446745s': out of range");
    // 18446744.073709551615 s is exactly 2^64 - 1 ps; one more ps does not fit.
    EXPECT_EQ(error_of("@18446744.073709551615s detach sid=1"), "no error");
    EXPECT_EQ(error_of("@18446744.073709551616s detach sid=1"),
              "t.trace:1: bad time '@18446744.073709551616s': out of range");
}

TEST(workload_timing, a_prefix_without_operation_is_an_error) {
    EXPECT_EQ(error_of("detach sid=1\n+\n"), "t.trace:2: missing operation after '+'");
    EXPECT_EQ(error_of("@5us   # nothing\n"), "t.trace:1: missing operation after '@5us'");
}

// ---------------------------------------------------------------------------------------------
// CPU-side operations

TEST(workload_cpu_ops, domain_with_every_type_and_option) {
    workload w = parse("domain name=a type=s1\n"
                       "domain name=b_2 type=s2 granule=16K cpu=3\n"
                       "domain name=c.x-1 type=nested granule=65536\n"
                       "domain name=7 type=sva granule=0x1000 cpu=0\n");
    ASSERT_EQ(w.ops.size(), 4U);
    EXPECT_EQ(body<domain_op>(w, 0), (domain_op{"a", domain_type::s1, std::nullopt, 0}));
    EXPECT_EQ(body<domain_op>(w, 1), (domain_op{"b_2", domain_type::s2, 16384, 3}));
    EXPECT_EQ(body<domain_op>(w, 2), (domain_op{"c.x-1", domain_type::nested, 65536, 0}));
    EXPECT_EQ(body<domain_op>(w, 3), (domain_op{"7", domain_type::sva, 4096, 0}));
}

TEST(workload_cpu_ops, map_defaults) {
    workload w = parse(domain_a + "map dom=a iova=0x1000 size=4K\n");
    const auto& m = body<map_op>(w, 1);
    EXPECT_EQ(m.dom, "a");
    EXPECT_EQ(m.iova, 0x1000U);
    EXPECT_EQ(m.size, 4096U);
    EXPECT_FALSE(m.pa.has_value());
    EXPECT_EQ(m.prot, (access{true, true, false}));
    EXPECT_EQ(m.cpu, 0U);
}

TEST(workload_cpu_ops, map_with_every_option) {
    workload w = parse(domain_a + "map cpu=2 prot=r pa=0x80000000 size=2M iova=0x200000 dom=a\n");
    EXPECT_EQ(body<map_op>(w, 1),
              (map_op{"a", 0x200000, 0x200000, 0x80000000, {true, false, false}, 2}));
}

TEST(workload_cpu_ops, map_prot_values) {
    const std::vector<std::pair<std::string, access>> cases{
        {"r", {true, false, false}}, {"w", {false, true, false}}, {"rw", {true, true, false}},
        {"rx", {true, false, true}}, {"wx", {false, true, true}}, {"rwx", {true, true, true}},
    };
    for (const auto& [text, expected] : cases) {
        workload w = parse(domain_a + "map dom=a iova=0 size=4K prot=" + text + "\n");
        EXPECT_EQ(body<map_op>(w, 1).prot, expected) << text;
    }
}

TEST(workload_cpu_ops, unmap_attach_detach) {
    workload w = parse(domain_a + "unmap dom=a iova=0x3000 size=8K cpu=1\n"
                                  "attach dom=a sid=0x10\n"
                                  "attach sid=17 dom=a cpu=5\n"
                                  "detach sid=0x10\n"
                                  "detach sid=0x11 cpu=4\n");
    EXPECT_EQ(body<unmap_op>(w, 1), (unmap_op{"a", 0x3000, 8192, 1}));
    EXPECT_EQ(body<attach_op>(w, 2), (attach_op{"a", 0x10, 0}));
    EXPECT_EQ(body<attach_op>(w, 3), (attach_op{"a", 17, 5}));
    EXPECT_EQ(body<detach_op>(w, 4), (detach_op{0x10, 0}));
    EXPECT_EQ(body<detach_op>(w, 5), (detach_op{0x11, 4}));
}

TEST(workload_cpu_ops, bind_unbind_and_ats_switches) {
    workload w = parse("domain name=p type=sva\n"
                       "bind sid=0x200 pasid=1 dom=p\n"
                       "bind sid=0x201 pasid=0xfffff dom=p cpu=1\n"
                       "unbind sid=0x200 pasid=1\n"
                       "unbind sid=0x201 pasid=1048575 cpu=2\n"
                       "enable_ats sid=0x200\n"
                       "enable_ats sid=0x201 cpu=1\n"
                       "disable_ats sid=0x200\n"
                       "disable_ats sid=0x201 cpu=3\n");
    EXPECT_EQ(body<bind_op>(w, 1), (bind_op{0x200, 1, "p", 0}));
    EXPECT_EQ(body<bind_op>(w, 2), (bind_op{0x201, 0xfffff, "p", 1}));
    EXPECT_EQ(body<unbind_op>(w, 3), (unbind_op{0x200, 1, 0}));
    EXPECT_EQ(body<unbind_op>(w, 4), (unbind_op{0x201, 0xfffff, 2}));
    EXPECT_EQ(body<enable_ats_op>(w, 5), (enable_ats_op{0x200, 0}));
    EXPECT_EQ(body<enable_ats_op>(w, 6), (enable_ats_op{0x201, 1}));
    EXPECT_EQ(body<disable_ats_op>(w, 7), (disable_ats_op{0x200, 0}));
    EXPECT_EQ(body<disable_ats_op>(w, 8), (disable_ats_op{0x201, 3}));
}

// ---------------------------------------------------------------------------------------------
// Device-side operations

TEST(workload_device_ops, dma_read_and_write) {
    workload w = parse("dma_read sid=0x8 iova=0xfffff000 len=4K\n"
                       "dma_write sid=0x8 iova=0x1000 len=1514 pasid=3\n"
                       "dma_read pasid=0 len=1 iova=0 sid=0\n");
    EXPECT_EQ(body<dma_op>(w, 0),
              (dma_op{dma_direction::read, 0x8, 0xfffff000, 4096, std::nullopt}));
    EXPECT_EQ(body<dma_op>(w, 1), (dma_op{dma_direction::write, 0x8, 0x1000, 1514, 3}));
    EXPECT_EQ(body<dma_op>(w, 2), (dma_op{dma_direction::read, 0, 0, 1, 0}));
}

TEST(workload_device_ops, ats_req_defaults_and_options) {
    workload w = parse("ats_req sid=0x200 iova=0x7f0000000000\n"
                       "ats_req sid=0x200 iova=0x7f0000100000 len=64K pasid=1 nw\n"
                       "ats_req nw sid=1 iova=0x2000\n");
    EXPECT_EQ(body<ats_req_op>(w, 0),
              (ats_req_op{0x200, 0x7f0000000000, 4096, std::nullopt, false}));
    EXPECT_EQ(body<ats_req_op>(w, 1), (ats_req_op{0x200, 0x7f0000100000, 65536, 1, true}));
    EXPECT_EQ(body<ats_req_op>(w, 2), (ats_req_op{1, 0x2000, 4096, std::nullopt, true}));
}

// ---------------------------------------------------------------------------------------------
// Numbers

TEST(workload_numbers, decimal_hex_and_suffixes) {
    workload w = parse("dma_read sid=0X1F iova=0xABCdef len=1G\n"
                       "dma_read sid=31 iova=1M len=0x10K\n"
                       "dma_read sid=0xffffffff iova=0xfffffffffffff000 len=4K\n"
                       "dma_read sid=0 iova=007 len=16M\n");
    EXPECT_EQ(body<dma_op>(w, 0).sid, 31U);
    EXPECT_EQ(body<dma_op>(w, 0).iova, 0xabcdefU);
    EXPECT_EQ(body<dma_op>(w, 0).len, 1073741824U);
    EXPECT_EQ(body<dma_op>(w, 1).iova, 1048576U);
    EXPECT_EQ(body<dma_op>(w, 1).len, 16384U);
    EXPECT_EQ(body<dma_op>(w, 2).sid, 0xffffffffU);
    EXPECT_EQ(body<dma_op>(w, 2).iova, 0xfffffffffffff000U);
    EXPECT_EQ(body<dma_op>(w, 3).iova, 7U);
    EXPECT_EQ(body<dma_op>(w, 3).len, 16777216U);
}

TEST(workload_numbers, bad_numbers_name_the_key) {
    EXPECT_EQ(error_of(domain_a + "map dom=a iova=0x12g size=4K"),
              "t.trace:2: map: key 'iova': bad number '0x12g'");
    EXPECT_EQ(error_of("dma_read sid=0x iova=0 len=1"),
              "t.trace:1: dma_read: key 'sid': bad number '0x'");
    EXPECT_EQ(error_of("dma_read sid=1 iova=-1 len=1"),
              "t.trace:1: dma_read: key 'iova': bad number '-1'");
    EXPECT_EQ(error_of("dma_read sid=1 iova=0 len=4k"),
              "t.trace:1: dma_read: key 'len': bad number '4k'");
    EXPECT_EQ(error_of("dma_read sid=1 iova=0 len=K"),
              "t.trace:1: dma_read: key 'len': bad number 'K'");
    // Identifiers take no size suffix.
    EXPECT_EQ(error_of("detach sid=4K"), "t.trace:1: detach: key 'sid': bad number '4K'");
    EXPECT_EQ(error_of("detach sid=1 cpu=1K"), "t.trace:1: detach: key 'cpu': bad number '1K'");
}

TEST(workload_numbers, values_out_of_range_name_the_key) {
    EXPECT_EQ(error_of("dma_read sid=0x100000000 iova=0 len=1"),
              "t.trace:1: dma_read: key 'sid': '0x100000000' out of range (at most 0xffffffff)");
    EXPECT_EQ(error_of("domain name=p type=sva\nbind sid=1 pasid=0x100000 dom=p"),
              "t.trace:2: bind: key 'pasid': '0x100000' out of range (at most 0xfffff)");
    EXPECT_EQ(error_of("dma_write sid=1 iova=0 len=1 pasid=1048576"),
              "t.trace:1: dma_write: key 'pasid': '1048576' out of range (at most 0xfffff)");
    EXPECT_EQ(error_of("dma_read sid=1 iova=0x10000000000000000 len=1"),
              "t.trace:1: dma_read: key 'iova': '0x10000000000000000' out of range "
              "(at most 0xffffffffffffffff)");
    EXPECT_EQ(error_of("dma_read sid=1 iova=18446744073709551616 len=1"),
              "t.trace:1: dma_read: key 'iova': '18446744073709551616' out of range "
              "(at most 0xffffffffffffffff)");
    // 2^34 G = 2^64 bytes.
    EXPECT_EQ(error_of("dma_read sid=1 iova=0 len=17179869184G"),
              "t.trace:1: dma_read: key 'len': '17179869184G' out of range "
              "(at most 0xffffffffffffffff)");
    EXPECT_EQ(error_of("detach sid=1 cpu=4294967296"),
              "t.trace:1: detach: key 'cpu': '4294967296' out of range (at most 0xffffffff)");
}

TEST(workload_numbers, sizes_must_be_positive_and_ranges_must_not_wrap) {
    EXPECT_EQ(error_of(domain_a + "map dom=a iova=0 size=0"),
              "t.trace:2: map: key 'size': must not be 0");
    EXPECT_EQ(error_of("dma_read sid=1 iova=0 len=0x0"),
              "t.trace:1: dma_read: key 'len': must not be 0");
    EXPECT_EQ(error_of("ats_req sid=1 iova=0 len=0"),
              "t.trace:1: ats_req: key 'len': must not be 0");
    EXPECT_EQ(error_of(domain_a + "map dom=a iova=0xfffffffffffff000 size=8K"),
              "t.trace:2: map: iova=0xfffffffffffff000 + 8192 bytes wraps past the end of the "
              "64-bit address space");
    EXPECT_EQ(error_of(domain_a + "map dom=a iova=0 pa=0xffffffffffffffff size=2"),
              "t.trace:2: map: pa=0xffffffffffffffff + 2 bytes wraps past the end of the "
              "64-bit address space");
    EXPECT_EQ(error_of(domain_a + "unmap dom=a iova=0xffffffffffffffff size=2"),
              "t.trace:2: unmap: iova=0xffffffffffffffff + 2 bytes wraps past the end of the "
              "64-bit address space");
    EXPECT_EQ(error_of("dma_write sid=1 iova=0xffffffffffffff00 len=0x101"),
              "t.trace:1: dma_write: iova=0xffffffffffffff00 + 257 bytes wraps past the end of "
              "the 64-bit address space");
    EXPECT_EQ(error_of("ats_req sid=1 iova=0xfffffffffffff001"),
              "t.trace:1: ats_req: iova=0xfffffffffffff001 + 4096 bytes wraps past the end of "
              "the 64-bit address space");
    // The last byte of the address space is fine.
    EXPECT_EQ(error_of("dma_write sid=1 iova=0xffffffffffffff00 len=0x100"), "no error");
}

// ---------------------------------------------------------------------------------------------
// Keys and tokens

TEST(workload_keys, unknown_operation_names_it) {
    EXPECT_EQ(error_of("# x\n\nmpa dom=a"), "t.trace:3: unknown operation 'mpa'");
    EXPECT_EQ(error_of("+1us sid=3"), "t.trace:1: unknown operation 'sid=3'");
    EXPECT_EQ(error_of("dma_read\x01\xff sid=1"),
              "t.trace:1: unknown operation 'dma_read\x01\xff'");
}

TEST(workload_keys, long_tokens_are_cut_in_messages) {
    std::string op(100, 'z');
    EXPECT_EQ(error_of(op), "t.trace:1: unknown operation '" + std::string(48, 'z') + "...'");
}

TEST(workload_keys, unknown_keys_name_operation_and_key) {
    EXPECT_EQ(error_of(domain_a + "map dom=a iovaa=0 size=4K"),
              "t.trace:2: map: unknown key 'iovaa'");
    EXPECT_EQ(error_of("detach sid=1 dom=a"), "t.trace:1: detach: unknown key 'dom'");
    EXPECT_EQ(error_of("dma_read sid=1 iova=0 len=1 cpu=1"),
              "t.trace:1: dma_read: unknown key 'cpu'");
    EXPECT_EQ(error_of("dma_read sid=1 iova=0 len=1 nw"), "t.trace:1: dma_read: unknown key 'nw'");
    EXPECT_EQ(error_of("enable_ats sid=1 pasid=2"), "t.trace:1: enable_ats: unknown key 'pasid'");
}

TEST(workload_keys, missing_keys_are_named) {
    EXPECT_EQ(error_of(domain_a + "map dom=a iova=0"), "t.trace:2: map: missing key 'size'");
    EXPECT_EQ(error_of("domain type=s1"), "t.trace:1: domain: missing key 'name'");
    EXPECT_EQ(error_of("domain name=a"), "t.trace:1: domain: missing key 'type'");
    EXPECT_EQ(error_of("attach sid=1"), "t.trace:1: attach: missing key 'dom'");
    EXPECT_EQ(error_of("domain name=p type=sva\nbind sid=1 dom=p"),
              "t.trace:2: bind: missing key 'pasid'");
    EXPECT_EQ(error_of("unbind pasid=1"), "t.trace:1: unbind: missing key 'sid'");
    EXPECT_EQ(error_of("dma_write sid=1 len=1"), "t.trace:1: dma_write: missing key 'iova'");
    EXPECT_EQ(error_of("ats_req iova=0"), "t.trace:1: ats_req: missing key 'sid'");
    EXPECT_EQ(error_of("disable_ats"), "t.trace:1: disable_ats: missing key 'sid'");
}

TEST(workload_keys, duplicate_keys_are_named) {
    EXPECT_EQ(error_of("dma_read sid=1 iova=0 sid=1 len=1"),
              "t.trace:1: dma_read: duplicate key 'sid'");
    EXPECT_EQ(error_of("ats_req sid=1 iova=0 nw nw"), "t.trace:1: ats_req: duplicate key 'nw'");
}

TEST(workload_keys, values_and_flags_are_not_interchangeable) {
    EXPECT_EQ(error_of("ats_req sid=1 iova=0 nw=1"),
              "t.trace:1: ats_req: key 'nw': is a flag and takes no value");
    EXPECT_EQ(error_of("dma_read sid iova=0 len=1"),
              "t.trace:1: dma_read: key 'sid': needs a value (sid=...)");
    EXPECT_EQ(error_of("dma_read sid= iova=0 len=1"),
              "t.trace:1: dma_read: key 'sid': empty value");
    EXPECT_EQ(error_of("dma_read =5 sid=1 iova=0 len=1"), "t.trace:1: dma_read: '=5' has no key");
}

TEST(workload_keys, bad_enumerations_and_names) {
    EXPECT_EQ(error_of("domain name=a type=s3"),
              "t.trace:1: domain: key 'type': unknown domain type 's3' (s1, s2, nested, sva)");
    EXPECT_EQ(error_of("domain name=a type=s1 granule=8K"),
              "t.trace:1: domain: key 'granule': 8192 is not a granule (4K, 16K, 64K)");
    EXPECT_EQ(error_of("domain name=a/b type=s1"),
              "t.trace:1: domain: key 'name': bad name 'a/b' (letters, digits, '_', '-', '.')");
    EXPECT_EQ(error_of(domain_a + "map dom=a iova=0 size=4K prot=x"),
              "t.trace:2: map: key 'prot': bad access 'x' (r, w, rw, rx, wx, rwx)");
    EXPECT_EQ(error_of(domain_a + "map dom=a iova=0 size=4K prot=wr"),
              "t.trace:2: map: key 'prot': bad access 'wr' (r, w, rw, rx, wx, rwx)");
}

// ---------------------------------------------------------------------------------------------
// Domains across lines

TEST(workload_domains, references_need_an_earlier_declaration) {
    EXPECT_EQ(error_of("map dom=nic2 iova=0 size=4K"),
              "t.trace:1: map: key 'dom': unknown domain 'nic2' (declare it with a domain line "
              "first)");
    EXPECT_EQ(error_of("unmap dom=x iova=0 size=4K\ndomain name=x type=s1"),
              "t.trace:1: unmap: key 'dom': unknown domain 'x' (declare it with a domain line "
              "first)");
    EXPECT_EQ(error_of("attach dom=x sid=1"),
              "t.trace:1: attach: key 'dom': unknown domain 'x' (declare it with a domain line "
              "first)");
    EXPECT_EQ(error_of("bind sid=1 pasid=1 dom=x"),
              "t.trace:1: bind: key 'dom': unknown domain 'x' (declare it with a domain line "
              "first)");
}

TEST(workload_domains, a_name_is_declared_once) {
    EXPECT_EQ(error_of("domain name=a type=s1\n\ndomain name=a type=s2"),
              "t.trace:3: domain: key 'name': domain 'a' already declared on line 1");
}

TEST(workload_domains, attach_takes_no_sva_and_bind_only_sva) {
    EXPECT_EQ(error_of("domain name=p type=sva\nattach dom=p sid=1"),
              "t.trace:2: attach: key 'dom': domain 'p' is sva: give it to a device with bind");
    EXPECT_EQ(error_of("domain name=a type=s2\nbind sid=1 pasid=1 dom=a"),
              "t.trace:2: bind: key 'dom': domain 'a' is s2: bind needs an sva domain");
    EXPECT_EQ(error_of("domain name=n type=nested\nattach dom=n sid=1"), "no error");
}

TEST(workload_domains, two_parses_do_not_share_state) {
    EXPECT_EQ(error_of(domain_a), "no error");
    EXPECT_EQ(error_of(domain_a), "no error");
    EXPECT_EQ(error_of("map dom=a iova=0 size=4K"),
              "t.trace:1: map: key 'dom': unknown domain 'a' (declare it with a domain line "
              "first)");
}

// ---------------------------------------------------------------------------------------------
// Errors as objects, files

TEST(workload_errors, trace_error_carries_file_line_and_message) {
    try {
        std::istringstream in("detach sid=1\n\nfoo\n");
        parse_workload(in, "dir/x.trace");
        FAIL() << "no error";
    } catch (const trace_error& e) {
        EXPECT_EQ(e.file(), "dir/x.trace");
        EXPECT_EQ(e.line(), 3U);
        EXPECT_EQ(e.message(), "unknown operation 'foo'");
        EXPECT_STREQ(e.what(), "dir/x.trace:3: unknown operation 'foo'");
        const std::runtime_error& base = e;
        EXPECT_STREQ(base.what(), "dir/x.trace:3: unknown operation 'foo'");
    }
}

TEST(workload_errors, missing_file_is_named) {
    const std::string path = ::testing::TempDir() + "no_such_dir/none.trace";
    try {
        load_workload(path);
        FAIL() << "no error";
    } catch (const trace_error& e) {
        EXPECT_EQ(e.line(), 0U);
        EXPECT_EQ(std::string(e.what()), path + ": cannot open the file");
    }
}

TEST(workload_errors, load_workload_reads_a_file_and_names_it_in_errors) {
    const std::string path = ::testing::TempDir() + "workload_test_load.trace";
    {
        std::ofstream out(path);
        out << "domain name=a type=s1\n+2us attach dom=a sid=4\n";
    }
    workload w = load_workload(path);
    EXPECT_EQ(w.file_name, path);
    ASSERT_EQ(w.ops.size(), 2U);
    EXPECT_EQ(w.ops[1].when, (timing{timing_kind::after_previous, 2'000'000}));
    EXPECT_EQ(body<attach_op>(w, 1), (attach_op{"a", 4, 0}));
    {
        std::ofstream out(path);
        out << "domain name=a type=s1\nattach dom=b sid=4\n";
    }
    try {
        load_workload(path);
        FAIL() << "no error";
    } catch (const trace_error& e) {
        EXPECT_EQ(std::string(e.what()),
                  path + ":2: attach: key 'dom': unknown domain 'b' (declare it with a domain "
                         "line first)");
    }
    std::filesystem::remove(path);
}

// ---------------------------------------------------------------------------------------------
// Printing and round trip

TEST(workload_print, format_time_uses_the_largest_exact_unit) {
    EXPECT_EQ(format_time(0), "0ns");
    EXPECT_EQ(format_time(1), "1ps");
    EXPECT_EQ(format_time(1001), "1001ps");
    EXPECT_EQ(format_time(1'000), "1ns");
    EXPECT_EQ(format_time(1'500'000), "1500ns");
    EXPECT_EQ(format_time(2'000'000), "2us");
    EXPECT_EQ(format_time(3'000'000'000), "3ms");
    EXPECT_EQ(format_time(1'000'000'000'000), "1s");
    EXPECT_EQ(format_time(18446744073709551615ULL), "18446744073709551615ps");
}

TEST(workload_print, canonical_lines) {
    workload w = parse("domain name=a type=s1\n"
                       "@1.5us domain name=p type=sva granule=64K cpu=1\n"
                       "+2us map dom=a iova=4096 size=2097152 pa=0x80000000 prot=r cpu=2\n"
                       "& map dom=a iova=0x10000 size=1000\n"
                       "unmap dom=a iova=0x10000 size=0x40000000 cpu=0\n"
                       "attach dom=a sid=16\n"
                       "detach sid=16 cpu=1\n"
                       "bind dom=p pasid=0x10 sid=0x200\n"
                       "unbind sid=0x200 pasid=16 cpu=7\n"
                       "enable_ats sid=1\n"
                       "disable_ats sid=1 cpu=1\n"
                       "dma_read sid=8 iova=0 len=4096\n"
                       "dma_write sid=8 iova=0x10 len=100 pasid=5\n"
                       "ats_req sid=2 iova=0x3000 len=4K\n"
                       "ats_req sid=2 iova=0x3000 len=8K pasid=9 nw\n");
    std::vector<std::string> expected{
        "+ domain name=a type=s1",
        "@1500ns domain name=p type=sva granule=64K cpu=1",
        "+2us map dom=a iova=0x1000 size=2M pa=0x80000000 prot=r cpu=2",
        "& map dom=a iova=0x10000 size=1000",
        "+ unmap dom=a iova=0x10000 size=1G",
        "+ attach dom=a sid=0x10",
        "+ detach sid=0x10 cpu=1",
        "+ bind sid=0x200 pasid=16 dom=p",
        "+ unbind sid=0x200 pasid=16 cpu=7",
        "+ enable_ats sid=0x1",
        "+ disable_ats sid=0x1 cpu=1",
        "+ dma_read sid=0x8 iova=0x0 len=4K",
        "+ dma_write sid=0x8 iova=0x10 len=100 pasid=5",
        "+ ats_req sid=0x2 iova=0x3000",
        "+ ats_req sid=0x2 iova=0x3000 len=8K pasid=9 nw",
    };
    ASSERT_EQ(w.ops.size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i)
        EXPECT_EQ(to_string(w.ops[i]), expected[i]);
    std::string all;
    for (const auto& line : expected)
        all += line + "\n";
    EXPECT_EQ(to_string(w), all);
}

TEST(workload_print, op_names) {
    workload w = parse("domain name=a type=s1\ndomain name=p type=sva\n"
                       "map dom=a iova=0 size=1\nunmap dom=a iova=0 size=1\n"
                       "attach dom=a sid=1\ndetach sid=1\nbind sid=1 pasid=1 dom=p\n"
                       "unbind sid=1 pasid=1\nenable_ats sid=1\ndisable_ats sid=1\n"
                       "dma_read sid=1 iova=0 len=1\ndma_write sid=1 iova=0 len=1\n"
                       "ats_req sid=1 iova=0\n");
    std::vector<std::string> names;
    for (const op& o : w.ops)
        names.emplace_back(op_name(o.body));
    EXPECT_EQ(names, (std::vector<std::string>{"domain", "domain", "map", "unmap", "attach",
                                               "detach", "bind", "unbind", "enable_ats",
                                               "disable_ats", "dma_read", "dma_write", "ats_req"}));
}

TEST(workload_print, round_trip_of_every_operation_and_option) {
    const std::string text = "# all of it\n"
                             "@0 domain name=a type=s1 granule=4K\n"
                             "& domain name=b type=s2 cpu=1\n"
                             "+ domain name=n type=nested granule=16K\n"
                             "+1ps domain name=p type=sva\n"
                             "@1.234567us map dom=a iova=0x1234 size=4097 pa=0x9000 prot=wx\n"
                             "& map dom=b iova=0x0 size=3G cpu=4\n"
                             "+7ms unmap dom=a iova=0x1234 size=4097 cpu=1\n"
                             "attach dom=n sid=0xffffffff\n"
                             "detach sid=0\n"
                             "bind sid=3 pasid=0xfffff dom=p cpu=2\n"
                             "unbind sid=3 pasid=0\n"
                             "enable_ats sid=3 cpu=9\n"
                             "disable_ats sid=3\n"
                             "@2s dma_read sid=3 iova=0xffffffffffffffff len=1 pasid=0\n"
                             "& dma_write sid=3 iova=0x10 len=999\n"
                             "+3ns ats_req sid=3 iova=0x20 len=1 nw\n"
                             "+ ats_req sid=3 iova=0x20 pasid=4\n";
    workload w = parse(text);
    ASSERT_EQ(w.ops.size(), 17U);
    std::string printed = to_string(w);
    workload again = parse(printed);
    EXPECT_EQ(again, w);
    EXPECT_EQ(to_string(again), printed);
}

TEST(workload_print, equality_ignores_provenance_but_not_values) {
    workload a = parse("detach sid=1\n");
    workload b = parse("\n\n# moved\n+ detach sid=1\n");
    b.file_name = "other.trace";
    EXPECT_EQ(b.ops[0].line, 4U);
    EXPECT_EQ(a, b);
    workload c = parse("detach sid=1 cpu=1\n");
    EXPECT_NE(a, c);
    workload d = parse("+1ns detach sid=1\n");
    EXPECT_NE(a, d);
    workload e = parse("disable_ats sid=1\n");
    EXPECT_NE(a, e);
}

// ---------------------------------------------------------------------------------------------
// Samples

std::filesystem::path samples_dir() {
#ifdef SMMU_SOURCE_DIR
    return std::filesystem::path(SMMU_SOURCE_DIR) / "traces" / "samples";
#else
    // Without the build's definition: look upwards from the working directory.
    for (auto dir = std::filesystem::current_path(); !dir.empty(); dir = dir.parent_path()) {
        if (std::filesystem::is_directory(dir / "traces" / "samples"))
            return dir / "traces" / "samples";
        if (dir == dir.parent_path())
            break;
    }
    return "traces/samples";
#endif
}

TEST(workload_samples, every_sample_parses_and_round_trips) {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(samples_dir())) {
        if (entry.path().extension() != ".trace")
            continue;
        names.push_back(entry.path().filename().string());
        SCOPED_TRACE(entry.path().string());
        workload w = load_workload(entry.path().string());
        EXPECT_GE(w.ops.size(), 10U);
        EXPECT_EQ(parse(to_string(w)), w);
    }
    std::sort(names.begin(), names.end());
    std::vector<std::string> expected{"churn.trace", "dma_map_benchmark.trace", "nic_strict.trace",
                                      "sva_ats.trace"};
    for (const auto& name : expected)
        EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
}

std::size_t count_ops(const workload& w, const char* name) {
    return static_cast<std::size_t>(std::count_if(w.ops.begin(), w.ops.end(), [&](const op& o) {
        return std::string(op_name(o.body)) == name;
    }));
}

TEST(workload_samples, samples_contain_what_they_promise) {
    const auto dir = samples_dir();
    workload bench = load_workload((dir / "dma_map_benchmark.trace").string());
    EXPECT_EQ(count_ops(bench, "map"), 16U + 8U + 16U);
    EXPECT_EQ(count_ops(bench, "unmap"), 16U + 8U + 16U);
    EXPECT_EQ(count_ops(bench, "dma_read"), 16U + 8U + 16U);

    workload nic = load_workload((dir / "nic_strict.trace").string());
    EXPECT_EQ(count_ops(nic, "dma_write"), 24U);
    EXPECT_EQ(count_ops(nic, "attach"), 2U);

    workload sva = load_workload((dir / "sva_ats.trace").string());
    EXPECT_EQ(count_ops(sva, "bind"), 2U);
    EXPECT_EQ(count_ops(sva, "unbind"), 2U);
    EXPECT_EQ(count_ops(sva, "enable_ats"), 2U);
    EXPECT_GE(count_ops(sva, "ats_req"), 4U);

    workload churn = load_workload((dir / "churn.trace").string());
    EXPECT_GE(count_ops(churn, "attach"), 10U);
    EXPECT_GE(count_ops(churn, "detach"), 8U);
}

} // namespace
} // namespace smmu::traces
