// Link-time stand-ins for the GSS-API (Kerberos) library that Debian's
// static libssh.a refers to. The release binary must run on hosts with
// nothing but glibc (it may be uploaded to one), and sparsync never offers
// gssapi-with-mic authentication, so these are never reached; if libssh did
// call one, it would get GSS_S_FAILURE and move on. Linked only in static
// builds (see CMakeLists.txt); dynamic builds use the real library.
// Thread-safety: stateless.
#include <cstdint>

namespace {
// GSS_S_FAILURE: a routine error, "unspecified failure" (RFC 2744 §3.9.1).
constexpr uint32_t kFailure = 13u << 16;
}  // namespace

// The arguments are ignored, so the stand-ins take none: for these C calls
// the caller owns the argument area and the return value is all that is read.
#define SPARSYNC_GSS_STUB(name) \
  extern "C" uint32_t name() { return kFailure; }

SPARSYNC_GSS_STUB(gss_accept_sec_context)
SPARSYNC_GSS_STUB(gss_acquire_cred)
SPARSYNC_GSS_STUB(gss_add_oid_set_member)
SPARSYNC_GSS_STUB(gss_create_empty_oid_set)
SPARSYNC_GSS_STUB(gss_display_name)
SPARSYNC_GSS_STUB(gss_display_status)
SPARSYNC_GSS_STUB(gss_get_mic)
SPARSYNC_GSS_STUB(gss_import_name)
SPARSYNC_GSS_STUB(gss_indicate_mechs)
SPARSYNC_GSS_STUB(gss_init_sec_context)
SPARSYNC_GSS_STUB(gss_inquire_cred)
SPARSYNC_GSS_STUB(gss_inquire_cred_by_mech)
SPARSYNC_GSS_STUB(gss_release_buffer)
SPARSYNC_GSS_STUB(gss_release_cred)
SPARSYNC_GSS_STUB(gss_release_name)
SPARSYNC_GSS_STUB(gss_release_oid_set)
SPARSYNC_GSS_STUB(gss_test_oid_set_member)
SPARSYNC_GSS_STUB(gss_verify_mic)

// Name-type OIDs (gss_OID values); null, as no name is ever imported.
extern "C" {
void* GSS_C_NT_HOSTBASED_SERVICE = nullptr;
void* GSS_C_NT_USER_NAME = nullptr;
}
