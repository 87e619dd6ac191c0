// JWT verification for the server's AUTH handshake (PROTOCOL.md §1.4).
//
// One verifier per server, built once from JWT_SECRET: a secret that (after
// "\n" escapes become newlines) starts with "-----BEGIN" is an RSA public key
// and the server accepts RS256 only; any other secret is an HMAC key and the
// server accepts HS256 only. Accepting exactly one algorithm, whatever the
// token's header claims, is what defeats algorithm confusion (an HS256 token
// "signed" with the public RSA key, or `alg: none`).
//
// verify() checks, in this order: size, shape, header (`alg` must be the
// server's), the signature (constant-time compare), and only then the claims:
// `exp` (required, with leeway), `sub` (required), `roles`, and `iss`/`aud`
// when configured. `nbf` is ignored, as in the reference server. Every failure
// is a Result with a precise reason for the logs; the client is only told
// "Authentication failed". Nothing throws out of verify().
//
// The verifier is immutable after create(): verify() is const and safe to call
// from any number of threads; copies share the parsed key.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace topgun::auth {

// Who a connection is, once its token verified.
struct Principal {
    std::string id;  // the JWT `sub`
    std::vector<std::string> roles;
    friend bool operator==(const Principal&, const Principal&) = default;
};

struct JwtConfig {
    std::string secret;                   // JWT_SECRET: an HMAC key or an RSA public key PEM
    std::optional<std::string> issuer;    // TOPGUN_JWT_ISSUER: when set, `iss` must equal it
    std::optional<std::string> audience;  // TOPGUN_JWT_AUDIENCE: when set, `aud` must be or contain it
    std::int64_t leeway_seconds = 60;     // clock skew allowed past `exp`
};

// Tokens longer than this are refused before any parsing.
inline constexpr std::size_t kMaxTokenBytes = 8 * 1024;
// RS256 keys shorter than this are refused at startup (NIST SP 800-131A; the
// reference server's verifier refuses them at every login instead).
inline constexpr int kMinRsaBits = 2048;

class JwtVerifier {
public:
    enum class Algorithm { HS256, RS256 };

    // The verifier, or a configuration error to print before exiting with code
    // 2: an empty secret, a negative leeway, a PEM block that is not an RSA
    // public key or does not parse, or an RSA key under kMinRsaBits.
    static std::variant<JwtVerifier, std::string> create(JwtConfig config);

    Algorithm algorithm() const noexcept { return algorithm_; }

    struct Result {
        std::optional<Principal> principal;  // set iff the token is valid
        std::string error;                   // otherwise: why, for the logs
        explicit operator bool() const noexcept { return principal.has_value(); }
    };
    // Checks a compact JWS token at `now_seconds` (Unix time). Const and thread-safe.
    Result verify(std::string_view token, std::int64_t now_seconds) const;

private:
    struct Key;  // the HMAC key bytes or the parsed RSA public key (OpenSSL stays out of this header)
    JwtVerifier(Algorithm algorithm, std::shared_ptr<const Key> key, JwtConfig config);
    Result verify_unguarded(std::string_view token, std::int64_t now_seconds) const;

    Algorithm algorithm_;
    std::shared_ptr<const Key> key_;
    JwtConfig config_;
};

std::string_view algorithm_name(JwtVerifier::Algorithm algorithm) noexcept;

// Compact tokens with header {"alg":..,"typ":"JWT"}, for tests and the load
// tool. Both throw std::invalid_argument when `claims` is not an object or
// (RS256) the key is not an RSA private key PEM.
std::string sign_hs256(const nlohmann::json& claims, std::string_view secret);
std::string sign_rs256(const nlohmann::json& claims, std::string_view private_key_pem);

// base64url without padding (RFC 7515 §2), exposed for tests. Decoding is
// strict: no padding, no characters outside the alphabet, and unused trailing
// bits must be zero, so every token has exactly one spelling.
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace topgun::auth
