#include "auth/jwt.hpp"

#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace topgun::auth;
using json = nlohmann::json;

namespace {

constexpr std::int64_t kNow = 1'700'000'000;
const std::string kSecret = "test-e2e-secret";

// --- keys made with OpenSSL for the RS256 cases -------------------------------------------------

struct KeyDeleter {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return out;
}

struct KeyPair {
    std::string private_pem;
    std::string public_pem;        // SPKI: -----BEGIN PUBLIC KEY-----
    std::string public_pkcs1_pem;  // PKCS#1: -----BEGIN RSA PUBLIC KEY-----
};

KeyPair pems_of(EVP_PKEY* key) {
    KeyPair pair;
    BIO* bio = BIO_new(BIO_s_mem());
    REQUIRE(PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr) == 1);
    pair.private_pem = bio_text(bio);
    bio = BIO_new(BIO_s_mem());
    REQUIRE(PEM_write_bio_PUBKEY(bio, key) == 1);
    pair.public_pem = bio_text(bio);
    if (EVP_PKEY_is_a(key, "RSA") == 1) {
        OSSL_ENCODER_CTX* ctx =
            OSSL_ENCODER_CTX_new_for_pkey(key, OSSL_KEYMGMT_SELECT_PUBLIC_KEY, "PEM", "type-specific", nullptr);
        REQUIRE(ctx != nullptr);
        unsigned char* data = nullptr;
        std::size_t length = 0;
        REQUIRE(OSSL_ENCODER_to_data(ctx, &data, &length) == 1);
        pair.public_pkcs1_pem.assign(reinterpret_cast<const char*>(data), length);
        OPENSSL_free(data);
        OSSL_ENCODER_CTX_free(ctx);
    }
    return pair;
}

KeyPair rsa_pair(int bits) {
    KeyPtr key(EVP_RSA_gen(static_cast<unsigned>(bits)));
    REQUIRE(key);
    return pems_of(key.get());
}

// Key generation takes a while: one pair per size for the whole run.
const KeyPair& rsa2048() {
    static const KeyPair pair = rsa_pair(2048);
    return pair;
}
const KeyPair& other_rsa2048() {
    static const KeyPair pair = rsa_pair(2048);
    return pair;
}

// As operators pass a PEM in an environment variable: newlines as "\n".
std::string escape_newlines(const std::string& pem) {
    std::string out;
    for (const char c : pem) out += c == '\n' ? std::string("\\n") : std::string(1, c);
    return out;
}

// --- helpers ----------------------------------------------------------------------------------------

JwtVerifier make_verifier(JwtConfig config) {
    auto created = JwtVerifier::create(std::move(config));
    if (auto* error = std::get_if<std::string>(&created)) FAIL("create failed: " << *error);
    return std::get<JwtVerifier>(std::move(created));
}
JwtVerifier hs256_verifier() { return make_verifier({.secret = kSecret}); }

std::string create_error(JwtConfig config) {
    auto created = JwtVerifier::create(std::move(config));
    const auto* error = std::get_if<std::string>(&created);
    return error ? *error : std::string();
}

json claims(std::int64_t exp = kNow + 3600) { return {{"sub", "user-1"}, {"exp", exp}}; }

// A token over arbitrary segment texts, HMAC-signed with kSecret by OpenSSL
// directly (sign_hs256 only signs well-formed JSON).
std::string hs256_segments(const std::string& header_b64, const std::string& payload_b64) {
    const std::string input = header_b64 + "." + payload_b64;
    unsigned char mac[EVP_MAX_MD_SIZE];
    std::size_t length = 0;
    REQUIRE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, kSecret.data(), kSecret.size(),
                      reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, sizeof mac,
                      &length) != nullptr);
    return input + "." + base64url_encode({reinterpret_cast<const char*>(mac), length});
}
std::string hs256_raw(std::string_view header, std::string_view payload) {
    return hs256_segments(base64url_encode(header), base64url_encode(payload));
}

void require_valid(const JwtVerifier& v, const std::string& token, std::int64_t now = kNow) {
    const auto result = v.verify(token, now);
    INFO(result.error);
    REQUIRE(result.principal);
    CHECK(result.error.empty());
}

// Fails, and the reason mentions `needle`.
void require_error(const JwtVerifier& v, std::string_view token, std::string_view needle, std::int64_t now = kNow) {
    const auto result = v.verify(token, now);
    CHECK_FALSE(result.principal);
    CHECK_FALSE(result);
    INFO("error: " << result.error);
    CHECK(result.error.find(needle) != std::string::npos);
}

std::string replace_segment(const std::string& token, int index, const std::string& segment) {
    const auto a = token.find('.');
    const auto b = token.find('.', a + 1);
    std::string parts[3] = {token.substr(0, a), token.substr(a + 1, b - a - 1), token.substr(b + 1)};
    parts[index] = segment;
    return parts[0] + "." + parts[1] + "." + parts[2];
}

}  // namespace

TEST_CASE("jwt: a valid HS256 token gives the principal with its roles", "[jwt]") {
    const auto v = hs256_verifier();
    CHECK(v.algorithm() == JwtVerifier::Algorithm::HS256);
    const auto token = sign_hs256({{"sub", "alice"}, {"roles", {"admin", "reader"}}, {"exp", kNow + 60}}, kSecret);
    const auto result = v.verify(token, kNow);
    REQUIRE(result.principal);
    CHECK(*result.principal == Principal{"alice", {"admin", "reader"}});

    // No roles claim: no roles. Extra claims are ignored.
    const auto plain = v.verify(sign_hs256({{"sub", "bob"}, {"exp", kNow}, {"name", "Bob"}}, kSecret), kNow);
    REQUIRE(plain.principal);
    CHECK(*plain.principal == Principal{"bob", {}});

    // Another secret's signature does not verify.
    require_error(v, sign_hs256(claims(), "another-secret"), "signature does not match");
}

TEST_CASE("jwt: the HS256 key is the secret's raw bytes, even with a \\n in it", "[jwt]") {
    const std::string secret = "line1\\nline2";  // backslash-n, as written in an env file
    const auto v = make_verifier({.secret = secret});
    CHECK(v.algorithm() == JwtVerifier::Algorithm::HS256);
    require_valid(v, sign_hs256(claims(), secret));
    require_error(v, sign_hs256(claims(), "line1\nline2"), "signature");
}

TEST_CASE("jwt: a valid RS256 token verifies against SPKI and PKCS#1 public keys, with \\n escapes", "[jwt]") {
    const auto& keys = rsa2048();
    const auto token = sign_rs256({{"sub", "carol"}, {"roles", {"writer"}}, {"exp", kNow + 10}}, keys.private_pem);
    for (const std::string& pem : {keys.public_pem, escape_newlines(keys.public_pem), keys.public_pkcs1_pem,
                                   escape_newlines(keys.public_pkcs1_pem)}) {
        INFO(pem.substr(0, 40));
        const auto v = make_verifier({.secret = pem});
        CHECK(v.algorithm() == JwtVerifier::Algorithm::RS256);
        const auto result = v.verify(token, kNow);
        INFO(result.error);
        REQUIRE(result.principal);
        CHECK(*result.principal == Principal{"carol", {"writer"}});
    }
    // A token signed with another key pair does not verify.
    const auto v = make_verifier({.secret = keys.public_pem});
    require_error(v, sign_rs256(claims(), other_rsa2048().private_pem), "does not verify");
    // sign_rs256 reads "\n"-escaped private keys as well.
    require_valid(v, sign_rs256(claims(), escape_newlines(keys.private_pem)));
}

TEST_CASE("jwt: exp is required, numeric, and valid while now <= exp + leeway", "[jwt]") {
    const auto v = hs256_verifier();  // leeway 60 s
    const std::int64_t exp = kNow;
    const auto token = sign_hs256(claims(exp), kSecret);
    require_valid(v, token, exp);
    require_valid(v, token, exp + 60);
    require_error(v, token, "expired at 1700000000", exp + 61);

    const auto strict = make_verifier({.secret = kSecret, .leeway_seconds = 0});
    require_valid(strict, token, exp);
    require_error(strict, token, "expired", exp + 1);

    // Fractional NumericDate (RFC 7519): valid through the whole second it names.
    const auto fractional = sign_hs256({{"sub", "u"}, {"exp", static_cast<double>(exp) + 0.5}}, kSecret);
    require_valid(strict, fractional, exp);
    require_error(strict, fractional, "expired", exp + 1);

    // Far future and far past saturate instead of overflowing.
    require_valid(v, sign_hs256({{"sub", "u"}, {"exp", std::numeric_limits<std::uint64_t>::max()}}, kSecret));
    require_valid(v, sign_hs256({{"sub", "u"}, {"exp", 1e300}}, kSecret));
    require_valid(v, sign_hs256(claims(std::numeric_limits<std::int64_t>::max()), kSecret),
                  std::numeric_limits<std::int64_t>::max());
    require_error(v, sign_hs256(claims(std::numeric_limits<std::int64_t>::min()), kSecret), "expired");
    require_error(v, sign_hs256(claims(-5), kSecret), "expired");
    require_error(v, sign_hs256({{"sub", "u"}, {"exp", -1e300}}, kSecret), "expired");
    constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
    require_valid(v, sign_hs256(claims(kMin), kSecret), kMin + 60);  // now - leeway saturates
    require_error(v, sign_hs256(claims(kMin), kSecret), "expired", kMin + 61);

    require_error(v, sign_hs256({{"sub", "u"}}, kSecret), "no exp claim");
    for (const json& bad : {json("1800000000"), json(true), json(nullptr), json::array({kNow + 10}), json::object()}) {
        require_error(v, sign_hs256({{"sub", "u"}, {"exp", bad}}, kSecret), "exp claim is not a number");
    }
}

TEST_CASE("jwt: nbf is ignored, as in the reference server", "[jwt]") {
    const auto v = hs256_verifier();
    require_valid(v, sign_hs256({{"sub", "u"}, {"exp", kNow + 10}, {"nbf", kNow + 1000}}, kSecret));
    require_valid(v, sign_hs256({{"sub", "u"}, {"exp", kNow + 10}, {"nbf", "garbage"}}, kSecret));
}

TEST_CASE("jwt: sub is required and a non-empty string", "[jwt]") {
    const auto v = hs256_verifier();
    require_error(v, sign_hs256({{"exp", kNow + 10}}, kSecret), "no sub claim");
    require_error(v, sign_hs256({{"sub", ""}, {"exp", kNow + 10}}, kSecret), "sub claim is empty");
    for (const json& bad : {json(42), json(nullptr), json::array({"u"}), json(false)}) {
        require_error(v, sign_hs256({{"sub", bad}, {"exp", kNow + 10}}, kSecret), "sub claim is not a string");
    }
}

TEST_CASE("jwt: roles, when present, must be an array of strings", "[jwt]") {
    const auto v = hs256_verifier();
    const auto empty = v.verify(sign_hs256({{"sub", "u"}, {"exp", kNow}, {"roles", json::array()}}, kSecret), kNow);
    REQUIRE(empty.principal);
    CHECK(empty.principal->roles.empty());
    for (const json& bad : {json("admin"), json(nullptr), json(1), json::object({{"admin", true}})}) {
        require_error(v, sign_hs256({{"sub", "u"}, {"exp", kNow}, {"roles", bad}}, kSecret),
                      "roles claim is not an array");
    }
    require_error(v, sign_hs256({{"sub", "u"}, {"exp", kNow}, {"roles", {"ok", 7}}}, kSecret),
                  "roles claim holds a non-string: 7");
}

TEST_CASE("jwt: iss and aud are enforced only when configured", "[jwt]") {
    const json base = claims();
    auto with = [&](json extra) {
        json c = base;
        c.update(extra);
        return sign_hs256(c, kSecret);
    };
    // Not configured: anything goes, including odd types.
    const auto open = hs256_verifier();
    require_valid(open, with({{"iss", 5}, {"aud", {{"x", 1}}}}));
    require_valid(open, with(json::object()));

    const auto iss = make_verifier({.secret = kSecret, .issuer = "https://idp.example"});
    require_valid(iss, with({{"iss", "https://idp.example"}}));
    require_error(iss, with(json::object()), "no iss claim");
    require_error(iss, with({{"iss", "https://evil.example"}}), "not the configured issuer");
    require_error(iss, with({{"iss", json::array({"https://idp.example"})}}), "not the configured issuer");

    const auto aud = make_verifier({.secret = kSecret, .audience = "topgun"});
    require_valid(aud, with({{"aud", "topgun"}}));
    require_valid(aud, with({{"aud", {"other", "topgun"}}}));
    require_error(aud, with(json::object()), "no aud claim");
    require_error(aud, with({{"aud", "other"}}), "does not include");
    require_error(aud, with({{"aud", {"other", "more"}}}), "does not include");
    require_error(aud, with({{"aud", json::array()}}), "does not include");
    require_error(aud, with({{"aud", {"topgun", 3}}}), "aud claim holds a non-string");
    require_error(aud, with({{"aud", 3}}), "neither a string nor an array");

    const auto both = make_verifier({.secret = kSecret, .issuer = "i", .audience = "a"});
    require_valid(both, with({{"iss", "i"}, {"aud", "a"}}));
    require_error(both, with({{"iss", "i"}}), "no aud claim");
    require_error(both, with({{"aud", "a"}}), "no iss claim");
}

TEST_CASE("jwt: only the server's algorithm is accepted (none, confusion, crit)", "[jwt]") {
    const auto& keys = rsa2048();
    const auto hs = hs256_verifier();
    const auto rs = make_verifier({.secret = keys.public_pem});
    const std::string payload = base64url_encode(claims().dump());

    // alg none, with and without a signature segment.
    const std::string none_header = base64url_encode(R"({"alg":"none","typ":"JWT"})");
    for (const auto& v : {hs, rs}) {
        require_error(v, none_header + "." + payload + ".", "\"none\" is refused");
        require_error(v, none_header + "." + payload + "." + base64url_encode("x"), "\"none\" is refused");
    }

    // The classic confusion: an HS256 token keyed with the server's public key PEM.
    for (const std::string& key_text : {keys.public_pem, escape_newlines(keys.public_pem)}) {
        require_error(rs, sign_hs256(claims(), key_text), "\"HS256\" is refused: this server accepts RS256 only");
    }
    // And the other way round: an RS256 token on an HS256 server.
    require_error(hs, sign_rs256(claims(), keys.private_pem), "\"RS256\" is refused: this server accepts HS256 only");

    // Names are exact; other HMAC/RSA variants are refused.
    for (const char* alg : {"hs256", "HS384", "HS512", "RS512", "PS256", "ES256", "HS256 "}) {
        const std::string header = json{{"alg", alg}}.dump();
        require_error(hs, hs256_raw(header, claims().dump()), "is refused");
    }
    require_error(hs, hs256_raw(R"({"typ":"JWT"})", claims().dump()), "no alg");
    require_error(hs, hs256_raw(R"({"alg":["HS256"]})", claims().dump()), "alg is not a string");
    require_error(hs, hs256_raw(R"({"alg":"HS256","crit":["exp"]})", claims().dump()), "crit");
    // A correctly signed token with extra harmless header members passes.
    require_valid(hs, hs256_raw(R"({"alg":"HS256","kid":"k1","typ":"at+jwt"})", claims().dump()));
}

TEST_CASE("jwt: a tampered header, payload or signature is refused", "[jwt]") {
    const auto& keys = rsa2048();
    const auto hs = hs256_verifier();
    const auto rs = make_verifier({.secret = keys.public_pem});
    const auto hs_token = sign_hs256(claims(), kSecret);
    const auto rs_token = sign_rs256(claims(), keys.private_pem);

    for (const auto& [v, token] : {std::pair{hs, hs_token}, std::pair{rs, rs_token}}) {
        require_valid(v, token);
        // Payload swapped for an escalated one, signature kept.
        const std::string admin =
            base64url_encode(json{{"sub", "root"}, {"roles", {"admin"}}, {"exp", kNow + 10}}.dump());
        require_error(v, replace_segment(token, 1, admin), "signature");
        // Header re-spelled (same meaning, different bytes): the signature covers the bytes.
        const auto header =
            std::string(R"({"typ":"JWT", "alg":")") + std::string(algorithm_name(v.algorithm())) + "\"}";
        require_error(v, replace_segment(token, 0, base64url_encode(header)), "signature");
        // Signature of another token, truncated, empty, extended.
        const auto other = v.algorithm() == JwtVerifier::Algorithm::HS256
                               ? sign_hs256(claims(kNow + 1), kSecret)
                               : sign_rs256(claims(kNow + 1), keys.private_pem);
        require_error(v, replace_segment(token, 2, other.substr(other.rfind('.') + 1)), "signature");
        const std::string sig = token.substr(token.rfind('.') + 1);
        require_error(v, replace_segment(token, 2, sig.substr(0, sig.size() - 4)), "signature");
        require_error(v, replace_segment(token, 2, ""), "signature");
        require_error(v, replace_segment(token, 2, sig + "AAAA"), "signature");

        // Every single-character change anywhere fails: base64url decoding is
        // strict, so no second spelling of the same bytes exists.
        const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ";
        std::mt19937 rng(7);
        std::size_t checked = 0;
        for (std::size_t i = 0; i < token.size(); ++i) {
            for (int k = 0; k < 3; ++k) {
                std::string mutated = token;
                char c = alphabet[rng() % alphabet.size()];
                if (c == mutated[i]) continue;
                mutated[i] = c;
                const auto result = v.verify(mutated, kNow);
                if (result.principal) FAIL("mutation at " << i << " to '" << c << "' verified");
                CHECK_FALSE(result.error.empty());
                ++checked;
            }
        }
        CHECK(checked > token.size());
    }
}

TEST_CASE("jwt: size, segment, base64url and JSON errors are reported, never thrown", "[jwt]") {
    const auto v = hs256_verifier();
    require_error(v, "", "empty");
    require_error(v, "abc", "1 dot-separated segments, not 3");
    require_error(v, "a.b", "2 dot-separated segments, not 3");
    require_error(v, "a.b.c.d", "4 dot-separated segments, not 3");
    require_error(v, sign_hs256(claims(), kSecret) + ".", "4 dot-separated segments");
    require_error(v, "!!!.e30.AAAA", "header is not valid base64url");
    require_error(v, base64url_encode("{not json") + ".e30.AAAA", "header is not a JSON object");
    require_error(v, base64url_encode("[1,2]") + ".e30.AAAA", "header is not a JSON object");
    require_error(v, base64url_encode(R"({"alg":"HS256"})") + ".e30.A", "signature is not valid base64url");
    require_error(v, hs256_raw(R"({"alg":"HS256"})", "[1]"), "payload is not a JSON object");
    require_error(v, hs256_raw(R"({"alg":"HS256"})", "{\"sub\":\"u\""), "payload is not a JSON object");
    require_error(v, hs256_raw(R"({"alg":"HS256"})", "{\"sub\":\"\xff\",\"exp\":1}"), "payload is not a JSON object");
    // A correctly signed payload segment that is not base64url.
    require_error(v, hs256_segments(base64url_encode(R"({"alg":"HS256"})"), "e30="), "payload is not valid base64url");
    require_error(v, hs256_raw(R"({"alg":"HS256"})", "{}"), "no exp claim");

    // Exactly at the size limit verifies; one byte over is refused before parsing.
    auto sized = [&](std::size_t target) {
        json c = claims();
        for (std::size_t pad = target * 3 / 4 - 200; pad < target; ++pad) {
            c["pad"] = std::string(pad, 'x');
            const auto token = sign_hs256(c, kSecret);
            if (token.size() >= target) return token;
        }
        return std::string();
    };
    const auto at_limit = sized(kMaxTokenBytes);
    const auto over = sized(kMaxTokenBytes + 1);
    REQUIRE(at_limit.size() == kMaxTokenBytes);
    REQUIRE(over.size() == kMaxTokenBytes + 1);
    require_valid(v, at_limit);
    require_error(v, over, "over the 8192-byte limit");
    require_error(v, std::string(1 << 20, 'a'), "over the 8192-byte limit");
}

TEST_CASE("jwt: base64url is strict and round-trips", "[jwt]") {
    std::mt19937 rng(11);
    for (std::size_t n = 0; n < 70; ++n) {
        std::string bytes(n, '\0');
        for (auto& b : bytes) b = static_cast<char>(rng());
        const auto encoded = base64url_encode(bytes);
        CHECK(encoded.find_first_of("+/=") == std::string::npos);
        const auto decoded = base64url_decode(encoded);
        REQUIRE(decoded);
        CHECK(*decoded == bytes);
    }
    CHECK(base64url_encode("\xfb\xff") == "-_8");
    CHECK(base64url_decode("-_8") == std::string("\xfb\xff"));
    CHECK(base64url_decode("") == std::string());
    CHECK_FALSE(base64url_decode("QQ=="));  // padding
    CHECK_FALSE(base64url_decode("+/8"));   // standard alphabet
    CHECK_FALSE(base64url_decode("Q"));     // impossible length
    CHECK_FALSE(base64url_decode("QR"));    // non-zero unused bits ("QQ" is canonical)
    CHECK(base64url_decode("QQ") == std::string("A"));
    CHECK_FALSE(base64url_decode("QUF"));  // "QUE" is canonical
    CHECK_FALSE(base64url_decode("QU E"));
    CHECK_FALSE(base64url_decode(std::string_view("QU\0E", 4)));
}

TEST_CASE("jwt: random garbage never verifies, throws or crashes", "[jwt]") {
    const auto hs = hs256_verifier();
    const auto rs = make_verifier({.secret = rsa2048().public_pem});
    std::mt19937 rng(1234);
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const std::vector<std::string> headers = {
        R"({"alg":"HS256"})", R"({"alg":"RS256"})", R"({"alg":"none"})", "{}", "null", "{\"alg\":"};
    for (int round = 0; round < 3000; ++round) {
        std::string token;
        const auto length = rng() % 300;
        switch (round % 3) {
            case 0:  // raw bytes
                for (std::size_t i = 0; i < length; ++i) token += static_cast<char>(rng());
                break;
            case 1:  // base64url characters and dots
                for (std::size_t i = 0; i < length; ++i) token += rng() % 12 == 0 ? '.' : alphabet[rng() % 64];
                break;
            default: {  // a plausible header, random payload bytes and signature
                std::string payload;
                for (std::size_t i = 0; i < length; ++i) payload += static_cast<char>(rng());
                std::string sig;
                for (std::size_t i = 0; i < 32 + rng() % 256; ++i) sig += static_cast<char>(rng());
                token = base64url_encode(headers[rng() % headers.size()]) + "." + base64url_encode(payload) + "." +
                        base64url_encode(sig);
            }
        }
        for (const auto* v : {&hs, &rs}) {
            JwtVerifier::Result result;
            REQUIRE_NOTHROW(result = v->verify(token, kNow));
            CHECK_FALSE(result.principal);
            CHECK_FALSE(result.error.empty());
        }
    }
}

TEST_CASE("jwt: create refuses empty secrets, bad PEMs, non-RSA and small keys", "[jwt]") {
    CHECK(create_error({.secret = ""}).find("empty") != std::string::npos);
    CHECK(create_error({.secret = kSecret, .leeway_seconds = -1}).find("negative") != std::string::npos);
    CHECK(create_error({.secret = "-----BEGIN PUBLIC KEY-----\\nnot base64\\n-----END PUBLIC KEY-----\\n"})
              .find("does not parse") != std::string::npos);
    CHECK(create_error({.secret = "-----BEGIN garbage"}).find("RS256 needs an RSA public key") != std::string::npos);
    // A private key, a certificate-like block: refused with the block's name.
    const auto priv = create_error({.secret = rsa2048().private_pem});
    CHECK(priv.find("\"PRIVATE KEY\"") != std::string::npos);
    CHECK(create_error({.secret = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"})
              .find("\"CERTIFICATE\"") != std::string::npos);
    // A truncated key.
    const auto& pem = rsa2048().public_pem;
    CHECK(create_error({.secret = pem.substr(0, pem.size() / 2)}).find("does not parse") != std::string::npos);
    // An EC public key is not RSA.
    KeyPtr ec(EVP_EC_gen("P-256"));
    REQUIRE(ec);
    CHECK(create_error({.secret = pems_of(ec.get()).public_pem}).find("does not parse") != std::string::npos);
    // 1024-bit RSA is too weak.
    const auto small = create_error({.secret = rsa_pair(1024).public_pem});
    CHECK(small.find("1024 bits") != std::string::npos);
    // Anything else is an HMAC key, however odd.
    CHECK(create_error({.secret = "-----BEGI"}).empty());
    CHECK(create_error({.secret = " -----BEGIN PUBLIC KEY-----"}).empty());
}

TEST_CASE("jwt: signing helpers refuse non-object claims and bad keys", "[jwt]") {
    CHECK_THROWS_AS(sign_hs256(json::array({1}), kSecret), std::invalid_argument);
    CHECK_THROWS_AS(sign_rs256(json(5), rsa2048().private_pem), std::invalid_argument);
    CHECK_THROWS_AS(sign_rs256(claims(), "not a key"), std::invalid_argument);
    CHECK_THROWS_AS(sign_rs256(claims(), rsa2048().public_pem), std::invalid_argument);
    // The HS256 header is the conventional one.
    const auto token = sign_hs256(claims(), kSecret);
    CHECK(base64url_decode(token.substr(0, token.find('.'))) == std::string(R"({"alg":"HS256","typ":"JWT"})"));
}

TEST_CASE("jwt: one verifier serves many threads; copies share the key", "[jwt]") {
    const auto& keys = rsa2048();
    std::vector<JwtVerifier> verifiers{hs256_verifier(), make_verifier({.secret = keys.public_pem})};
    const std::vector<std::string> good = {sign_hs256(claims(), kSecret), sign_rs256(claims(), keys.private_pem)};
    const std::vector<std::string> bad = {sign_hs256(claims(), "nope"),
                                          sign_rs256(claims(), other_rsa2048().private_pem)};
    for (std::size_t k = 0; k < verifiers.size(); ++k) {
        const JwtVerifier copy = verifiers[k];
        std::atomic<int> wrong{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&] {
                for (int i = 0; i < 100; ++i) {
                    if (!copy.verify(good[k], kNow).principal) ++wrong;
                    if (copy.verify(bad[k], kNow).principal) ++wrong;
                }
            });
        }
        for (auto& t : threads) t.join();
        CHECK(wrong == 0);
    }
    // The copy outlives the original.
    std::optional<JwtVerifier> original = make_verifier({.secret = keys.public_pem});
    const JwtVerifier copy = *original;
    original.reset();
    require_valid(copy, good[1]);
}
