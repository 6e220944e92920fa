// sparsync --job over a real sshd (tests/support/sshd_fixture.h): several
// groups to one far host, the logins that costs (counted in sshd's own log),
// an entry that fails without stopping the others, pre/post ordering and
// failure, --only, and bad entries refused before anything starts.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>

#include "support/files.h"
#include "support/sizes.h"
#include "support/sshd_test.h"

namespace sparsync::testing {
namespace {

// Logins sshd accepted so far: at LogLevel VERBOSE it writes one
// "Accepted publickey for ..." line per authenticated connection.
int accepted_logins(const SshdFixture& sshd) {
  std::istringstream in(read_text(sshd.file("sshd.log")));
  int n = 0;
  for (std::string line; std::getline(in, line);) n += line.find("Accepted publickey") != std::string::npos ? 1 : 0;
  return n;
}

// One [[group.entry]] pushing `source` to the fixture host.
std::string job_entry(const std::string& name, const std::string& source, const std::string& target,
                      const std::string& extra = "") {
  return "  [[group.entry]]\n  name = \"" + name + "\"\n  source = \"" + source +
         "\"\n  target = \"127.0.0.1:" + target + "\"\n" + extra;
}

class SshJob : public SshdTest {
 protected:
  CommandResult run_job(const std::string& toml, std::vector<std::string> extra = {}) {
    write_text(dir_.file("job.toml"), toml);
    std::vector<std::string> args = sshd_->ssh_args();
    args.insert(args.end(), {"--job", dir_.file("job.toml")});
    args.insert(args.end(), extra.begin(), extra.end());
    return sshd_->run(args);
  }
  std::string image(const std::string& name, uint32_t seed) {
    std::string path = dir_.file(name);
    SparseImage(path, 8 * kMiB).data(0, kMiB, seed).data(5 * kMiB, kMiB, seed + 1);
    return path;
  }
  // Two groups of two disks each, all to the fixture host.
  std::string two_vms() {
    std::string toml = "job = \"dr\"\n[defaults]\nretries = 0\n";
    for (const char* vm : {"vm1", "vm2"}) {
      toml += "[[group]]\nname = \"" + std::string(vm) + "\"\n";
      for (const char* disk : {"root", "data"}) {
        std::string name = std::string(vm) + "-" + disk;
        toml += job_entry(name, image(name + ".img", static_cast<uint32_t>(name.size() + toml.size())),
                          dir_.file(name + ".copy"));
      }
    }
    return toml;
  }
  void expect_copied(const std::vector<std::string>& names) {
    for (const std::string& n : names)
      EXPECT_EQ(first_difference(dir_.file(n + ".img"), dir_.file(n + ".copy")), std::nullopt) << n;
  }
  TempDir dir_;
};

TEST_F(SshJob, SeveralGroupsToOneHostLogInOnce) {
  CommandResult r = run_job(two_vms(), {"--parallel", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  expect_copied({"vm1-root", "vm1-data", "vm2-root", "vm2-data"});
  EXPECT_EQ(accepted_logins(*sshd_), 1) << read_text(sshd_->file("sshd.log"));
  EXPECT_NE(r.out.find("job dr: 4 entries, 4 synced, 0 failed; 1 SSH login;"), std::string::npos) << r.out;
}

// Syncs running at once to one host share its session: one exec channel each.
TEST_F(SshJob, ParallelSyncsToOneHostShareOneLogin) {
  CommandResult r = run_job(two_vms(), {"--parallel", "4", "--json", "--lanes", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  expect_copied({"vm1-root", "vm1-data", "vm2-root", "vm2-data"});
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(accepted_logins(*sshd_), 1) << read_text(sshd_->file("sshd.log"));
  EXPECT_EQ(doc["ssh_logins"], 1);
  EXPECT_EQ(doc["parallel"], 4);
}

// Two names for the fixture's host are two far hosts to a job: one login
// each, whatever runs at once.
TEST_F(SshJob, TwoFarHostsAreOneLoginEach) {
  write_text(sshd_->known_hosts(), sshd_->host_key_line() + "[localhost]:" + std::to_string(sshd_->port()) + " " +
                                       read_text(sshd_->file("host_key.pub")));
  std::string toml = "[[group]]\nname = \"vm1\"\n";
  for (int i = 0; i < 4; ++i) {
    std::string name = "d" + std::to_string(i);
    std::string host = i % 2 == 0 ? "127.0.0.1" : "localhost";
    toml += "  [[group.entry]]\n  name = \"" + name + "\"\n  source = \"" + image(name + ".img", 20 + i) +
            "\"\n  target = \"" + host + ":" + dir_.file(name + ".copy") + "\"\n";
  }
  CommandResult r = run_job(toml, {"--parallel", "4"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  expect_copied({"d0", "d1", "d2", "d3"});
  EXPECT_EQ(accepted_logins(*sshd_), 2) << read_text(sshd_->file("sshd.log"));
  EXPECT_NE(r.out.find("4 synced, 0 failed; 2 SSH logins;"), std::string::npos) << r.out;
}

TEST_F(SshJob, AFailingEntryStopsNoOtherAndSetsTheExitCode) {
  std::string toml = "[[group]]\nname = \"vm1\"\n" +
                     job_entry("good1", image("good1.img", 1), dir_.file("good1.copy")) +
                     job_entry("gone", dir_.file("missing.img"), dir_.file("gone.copy")) +
                     job_entry("good2", image("good2.img", 2), dir_.file("good2.copy"));
  CommandResult r = run_job(toml, {"--json", "--parallel", "1"});
  EXPECT_EQ(r.exit_code, 3) << r.err;  // a source problem, the worst entry's
  expect_copied({"good1", "good2"});
  auto doc = nlohmann::json::parse(r.out);
  ASSERT_EQ(doc["entries"].size(), 3u) << r.out;
  EXPECT_EQ(doc["entries"][1]["name"], "gone");
  EXPECT_EQ(doc["entries"][1]["ok"], false);
  EXPECT_EQ(doc["entries"][1]["exit_code"], 3);
  EXPECT_EQ(doc["entries"][2]["ok"], true);
  EXPECT_EQ(doc["exit_code"], 3);
  EXPECT_EQ(accepted_logins(*sshd_), 1) << "a failed source needs no login, the others share one";
}

// pre makes the group's sources (as lvcreate -s would), post removes them;
// both log to one file, and the syncs read what pre made.
TEST_F(SshJob, PreCapturesTheGroupsSourcesAndPostRunsAfterItsLastSync) {
  std::string base1 = image("base1.img", 3), base2 = image("base2.img", 4);
  std::string order = dir_.file("order.log");
  std::string snap1 = dir_.file("snap1.img"), snap2 = dir_.file("snap2.img");
  std::string toml = "[[group]]\nname = \"vm1\"\npre = \"echo pre $SPARSYNC_GROUP >> " + order + "; cp " + base1 + " " +
                     snap1 + "; cp " + base2 + " " + snap2 + "\"\npost = \"echo post >> " + order + "; rm " + snap1 +
                     " " + snap2 + "\"\n" + job_entry("d1", snap1, dir_.file("d1.copy")) +
                     job_entry("d2", snap2, dir_.file("d2.copy"));
  CommandResult r = run_job(toml, {"--parallel", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_text(order), "pre vm1\npost\n");
  EXPECT_EQ(first_difference(base1, dir_.file("d1.copy")), std::nullopt);
  EXPECT_EQ(first_difference(base2, dir_.file("d2.copy")), std::nullopt);
  EXPECT_FALSE(exists(snap1)) << "post did not run";
  EXPECT_NE(r.out.find("group vm1: pre ok"), std::string::npos) << r.out;
}

TEST_F(SshJob, PostRunsWhenASyncFailsAndAFailedPreKeepsItsGroupFromRunning) {
  std::string order = dir_.file("order.log");
  std::string toml = "[[group]]\nname = \"vm1\"\npost = \"echo post vm1 >> " + order + "\"\n" +
                     job_entry("missing", dir_.file("missing.img"), dir_.file("m.copy")) +
                     "[[group]]\nname = \"vm2\"\npre = \"echo pre vm2 >> " + order +
                     "; echo cannot freeze >&2; exit 1\"\npost = \"echo post vm2 >> " + order + "\"\n" +
                     job_entry("vm2-root", image("vm2.img", 5), dir_.file("vm2.copy")) +
                     "[[group]]\nname = \"vm3\"\npost = \"exit 4\"\n" +
                     job_entry("vm3-root", image("vm3.img", 6), dir_.file("vm3.copy"));
  CommandResult r = run_job(toml, {"--parallel", "1", "--json"});
  EXPECT_EQ(r.exit_code, 9) << r.err;  // a failed pre/post outranks the source error (3)
  EXPECT_EQ(read_text(order), "post vm1\npre vm2\npost vm2\n");
  EXPECT_FALSE(exists(dir_.file("vm2.copy"))) << "vm2 synced although its pre failed";
  EXPECT_EQ(first_difference(dir_.file("vm3.img"), dir_.file("vm3.copy")), std::nullopt);
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["groups"][1]["pre"]["ok"], false);
  EXPECT_NE(doc["groups"][1]["pre"]["error"].get<std::string>().find("cannot freeze"), std::string::npos) << r.out;
  EXPECT_EQ(doc["groups"][2]["post"]["ok"], false);
  EXPECT_EQ(doc["entries"][1]["exit_code"], 9);
  EXPECT_EQ(doc["entries"][2]["ok"], true);
  EXPECT_NE(r.err.find("pre command of group 'vm2' exited with status 1: cannot freeze"), std::string::npos) << r.err;
}

TEST_F(SshJob, OnlyRunsTheNamedEntryWithItsGroupsCommands) {
  std::string order = dir_.file("order.log");
  std::string toml = two_vms() + "[[group]]\nname = \"vm3\"\npre = \"echo pre vm3 >> " + order +
                     "\"\npost = \"echo post vm3 >> " + order + "\"\n" +
                     job_entry("vm3-root", image("vm3-root.img", 7), dir_.file("vm3-root.copy"));
  CommandResult r = run_job(toml, {"--only", "vm3-root", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_copied({"vm3-root"});
  EXPECT_FALSE(exists(dir_.file("vm1-root.copy")));
  EXPECT_EQ(read_text(order), "pre vm3\npost vm3\n");
  EXPECT_EQ(nlohmann::json::parse(r.out)["entries"].size(), 1u);
  CommandResult unknown = run_job(toml, {"--only", "vm9"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("--only vm9: " + dir_.file("job.toml") + " has no such entry"), std::string::npos)
      << unknown.err;
}

TEST_F(SshJob, MetricsFileLabelsEveryEntryAndKeepsItsLastSuccess) {
  std::string metrics = dir_.file("job.prom");
  std::string toml = "job = \"dr\"\n[[group]]\nname = \"vm1\"\n" +
                     job_entry("ok1", image("ok1.img", 8), dir_.file("ok1.copy")) +
                     job_entry("bad", dir_.file("missing.img"), dir_.file("bad.copy"));
  CommandResult r = run_job(toml, {"--metrics-file", metrics});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  std::string text = read_text(metrics);
  EXPECT_NE(
      text.find("sparsync_exit_code{job=\"dr\",entry=\"bad\",target=\"127.0.0.1:" + dir_.file("bad.copy") + "\"} 3"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("sparsync_last_success_timestamp_seconds{job=\"dr\",entry=\"bad\","), std::string::npos);
  EXPECT_NE(text.find("sparsync_job_exit_code{job=\"dr\"} 3"), std::string::npos) << text;
  EXPECT_NE(text.find("sparsync_job_ssh_logins{job=\"dr\"} 1"), std::string::npos) << text;
  EXPECT_EQ(text.find("sparsync_exit_code{target="), std::string::npos) << "a series without job and entry labels";
  // A later --only run of the failing entry keeps ok1's series and success time.
  std::string ok1_line = text.substr(text.find("sparsync_last_success_timestamp_seconds{job=\"dr\",entry=\"ok1\""));
  ok1_line = ok1_line.substr(0, ok1_line.find('\n'));
  run_job(toml, {"--metrics-file", metrics, "--only", "bad"});
  EXPECT_NE(read_text(metrics).find(ok1_line + "\n"), std::string::npos) << read_text(metrics);
}

TEST_F(SshJob, ABadEntryIsRefusedBeforeAnythingStarts) {
  std::string marker = dir_.file("pre-ran");
  std::string head = "[[group]]\nname = \"vm1\"\npre = \"touch " + marker + "\"\n" +
                     job_entry("fine", image("fine.img", 9), dir_.file("fine.copy"));
  struct Case {
    std::string entry;
    std::string says;
  } cases[] = {
      {job_entry("typo", dir_.file("fine.img"), dir_.file("t.copy"), "  bwlimt = \"20M\"\n"),
       "job.toml:12: unknown key 'bwlimt' in entry 'typo'"},
      {"  [[group.entry]]\n  name = \"nosrc\"\n  target = \"127.0.0.1:/tmp/x\"\n",
       "job.toml:8: entry 'nosrc' has no source"},
      {job_entry("badrate", dir_.file("fine.img"), dir_.file("b.copy"), "  bwlimit = \"fast\"\n"),
       "entry 'badrate': --bwlimit fast: give a rate of at least 1K"},
      {job_entry("badflag", dir_.file("fine.img"), dir_.file("b.copy"), "  verify = \"yes\"\n"),
       "job.toml:12: 'verify' takes true or false"},
  };
  for (const Case& c : cases) {
    CommandResult r = run_job(head + c.entry);
    EXPECT_EQ(r.exit_code, 2) << c.says << "\n" << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
    EXPECT_EQ(r.err_lines().size(), 1u) << r.err;
    EXPECT_FALSE(exists(marker)) << "pre ran before the job file was checked: " << c.says;
    EXPECT_FALSE(exists(dir_.file("fine.copy"))) << c.says;
  }
  EXPECT_EQ(accepted_logins(*sshd_), 0);
}

}  // namespace
}  // namespace sparsync::testing
