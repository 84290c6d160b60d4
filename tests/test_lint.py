"""Lint phase: cfn-lint findings become diagnostics with their rule ids and template lines; several
templates lint in parallel with the same result as one by one."""

from __future__ import annotations

from manifestc.lint import lint_template, lint_templates

GOOD = """AWSTemplateFormatVersion: '2010-09-09'
Resources:
  Topic:
    Type: AWS::SNS::Topic
"""
BAD = """AWSTemplateFormatVersion: '2010-09-09'
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: Not_Valid
"""


def test_findings_keep_rule_ids_and_lines():
    findings = lint_template(BAD, "out/x/pipeline.yaml")
    assert findings and all(d.file == "out/x/pipeline.yaml" for d in findings)
    assert {d.code for d in findings} <= {"E1161", "E3031"} and all(d.line == 6 for d in findings)
    assert lint_template(GOOD, "good.yaml") == []


def test_parallel_lint_matches_serial():
    jobs = [(GOOD, "a.yaml", ("us-east-1",)), (BAD, "b.yaml", ("us-east-1",)), (GOOD, "c.yaml", ("us-east-1",))]
    serial = [d for job in jobs for d in lint_template(*job)]
    assert lint_templates(jobs) == serial and serial
