// The job file (app/job_file.h) and what is derived from it without running
// anything: option layering, refusals with file and line, --only, the
// choice of --parallel, the exit code rule and the job's metrics text.
#include <gtest/gtest.h>

#include "app/job_file.h"
#include "app/job_metrics.h"
#include "app/job_plan.h"
#include "app/job_report.h"

namespace sparsync {
namespace {

const char* kTwoGroups = R"(job = "dr"
[defaults]
retries = 5
bwlimit = "10M"

[[group]]
name = "web1"
pre = "freeze"
post = "thaw"
lanes = 2
  [[group.entry]]
  name = "web1-root"
  source = "/dev/vg0/web1-root"
  target = "dr:/dev/vg0/web1-root"
  bwlimit = "20M"
  verify = true
  compress = 9
  identity = ["/k1", "/k2"]

[[group]]
name = "db1"
  [[group.entry]]
  name = "db1-root"
  source = "/dev/vg0/db1-root"
  target = "dr:/dev/vg0/db1-root"
  verify = false
)";

TEST(JobFile, LayersDefaultsGroupAndEntryOptionsAsCommandLineWords) {
  auto job = parse_job_text(kTwoGroups, "dr.toml");
  ASSERT_TRUE(job.is_ok()) << job.status().message();
  ASSERT_EQ(job.value().groups.size(), 2u);
  const JobGroup& web = job.value().groups[0];
  EXPECT_EQ(web.pre, "freeze");
  EXPECT_EQ(web.post, "thaw");
  EXPECT_EQ(web.hook_timeout, kDefaultHookTimeout);
  EXPECT_EQ(web.entries[0].args, (std::vector<std::string>{"--bwlimit=20M", "--retries=5", "--lanes=2", "--compress=9",
                                                           "--identity=/k1", "--identity=/k2", "--verify"}));
  EXPECT_EQ(job.value().groups[1].entries[0].args, (std::vector<std::string>{"--bwlimit=10M", "--retries=5"}));
  EXPECT_EQ(job.value().name, "dr");
}

TEST(JobFile, RefusesWithTheFileTheLineAndWhatToDo) {
  struct Case {
    std::string text;
    std::string says;
  } cases[] = {
      {"[[group]]\nname = \"a\"\n[[group.entry]]\nname = \"e\"\nsource = \"s\"\ntarget = \"t\"\nbwlimt = 1\n",
       "j.toml:7: unknown key 'bwlimt' in entry 'e'"},
      {"[[group]]\nname = \"a\"\n[[group.entry]]\nname = \"e\"\ntarget = \"t\"\n", "j.toml:3: entry 'e' has no source"},
      {"[[group]]\nname = \"a\"\n", "j.toml:1: group 'a' has no entries"},
      {"paralel = 3\n", "j.toml:1: unknown key 'paralel' at the top"},
      {"[[group]]\nname = \"a b\"\n", "j.toml:2: a [[group]] name must be"},
      {"[[group]]\nname = \"a\"\n[[group.entry]]\nname = \"e\"\nsource = \"s\"\ntarget = \"t\"\n"
       "[[group.entry]]\nname = \"e\"\nsource = \"s\"\ntarget = \"u\"\n",
       "j.toml:7: a second entry is named 'e'"},
      {"[[group]\n", "j.toml:1: not valid TOML"},
      {"", "j.toml: no [[group]]"},
  };
  for (const Case& c : cases) {
    auto job = parse_job_text(c.text, "j.toml");
    ASSERT_FALSE(job.is_ok()) << c.says;
    EXPECT_EQ(job.status().kind(), ErrorKind::kUsage);
    EXPECT_NE(job.status().message().find(c.says), std::string::npos) << job.status().message();
  }
}

TEST(JobPlan, JudgesEveryEntryLikeACommandLineAndNarrowsToOnly) {
  auto job = parse_job_text(kTwoGroups, "dr.toml");
  ASSERT_TRUE(job.is_ok());
  CliOptions base;
  base.only = {"db1-root"};
  auto plan = plan_job(job.value(), base);
  ASSERT_TRUE(plan.is_ok()) << plan.status().message();
  ASSERT_EQ(plan.value().groups.size(), 1u);
  EXPECT_EQ(plan.value().groups[0].group.name, "db1");
  EXPECT_EQ(plan.value().groups[0].entries[0].request.bwlimit, 10u << 20);
  EXPECT_EQ(plan.value().groups[0].entries[0].far_host, "dr");
  EXPECT_EQ(plan.value().parallel, 1);

  auto bad = parse_job_text(std::string(kTwoGroups) + "  block-size = \"3K\"\n", "dr.toml");
  ASSERT_TRUE(bad.is_ok());
  auto refused = plan_job(bad.value(), CliOptions{});
  ASSERT_FALSE(refused.is_ok());
  EXPECT_NE(refused.status().message().find("dr.toml:22: entry 'db1-root': --block-size 3K"), std::string::npos)
      << refused.status().message();
}

TEST(JobPlan, ParallelComesFromTheCommandLineTheFileOrTheCoresAndFarHosts) {
  EXPECT_EQ(choose_parallel(3, 5, 2, 1, 10), 3);
  EXPECT_EQ(choose_parallel(0, 5, 2, 1, 10), 5);
  EXPECT_EQ(choose_parallel(0, 0, 2, 1, 10), 2);
  EXPECT_EQ(choose_parallel(0, 0, 2, 6, 10), 6);   // one per far host
  EXPECT_EQ(choose_parallel(0, 0, 32, 1, 40), 8);  // at most 8 by default
  EXPECT_EQ(choose_parallel(0, 0, 4, 1, 2), 2);    // never more than the entries
}

TEST(JobReport, ExitCodeIsTheLargestOfEntriesAndCommands) {
  JobRun run;
  run.entries.resize(3);
  run.groups.resize(1);
  EXPECT_EQ(job_exit_code(run), 0);
  run.entries[1].status = Status(ErrorKind::kSource, "gone");
  run.entries[2].status = Status(ErrorKind::kConnection, "down");
  EXPECT_EQ(job_exit_code(run), 5);
  run.groups[0].post = HookResult{true, Status(ErrorKind::kCommand, "thaw failed"), 0};
  EXPECT_EQ(job_exit_code(run), 9);
}

TEST(JobMetrics, AnEntryLeftOutByOnlyKeepsItsSeries) {
  auto job = parse_job_text(kTwoGroups, "dr.toml");
  ASSERT_TRUE(job.is_ok());
  CliOptions base;
  base.only = {"web1-root"};
  auto plan = plan_job(job.value(), base);
  ASSERT_TRUE(plan.is_ok());
  JobRun run;
  run.entries.push_back(EntryRun{"web1-root", "web1", Status(ErrorKind::kTarget, "full"), true, {}, 1, 2000});
  run.groups.push_back(GroupRun{"web1", {}, {}});
  const std::string previous =
      "sparsync_last_success_timestamp_seconds{job=\"dr\",entry=\"web1-root\",target=\"x\"} 1000\n"
      "sparsync_last_success_timestamp_seconds{job=\"dr\",entry=\"db1-root\",target=\"y\"} 1500\n"
      "sparsync_last_success_timestamp_seconds{job=\"other\",entry=\"z\",target=\"y\"} 1600\n";
  std::string text = job_metrics_text(plan.value(), run, previous);
  EXPECT_NE(text.find("sparsync_last_success_timestamp_seconds{job=\"dr\",entry=\"web1-root\",target=\"dr:/dev/vg0/"
                      "web1-root\"} 1000\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("{job=\"dr\",entry=\"db1-root\",target=\"y\"} 1500\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("job=\"other\""), std::string::npos) << text;
  EXPECT_NE(text.find("sparsync_job_exit_code{job=\"dr\"} 4\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace sparsync
