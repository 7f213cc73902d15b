"""A resource's tags are its own: the emulator reads them by the resource's id
rather than scanning every tag of the account for each resource (ec2.py), and
the answers must be what moto's scan gave."""

from conftest import make_vpc

ACCOUNT = "363636363636"


def test_each_group_shows_and_is_filtered_by_its_own_tags(emu):
    ec2 = emu.client("ec2", ACCOUNT)
    vpc, _ = make_vpc(ec2, "10.36.0.0/16", [("10.36.1.0/24", "us-east-1a")])
    groups = {}
    for name in ("a", "ab", "b"):
        groups[name] = ec2.create_security_group(
            GroupName=f"tags-{name}", Description="tags", VpcId=vpc,
            TagSpecifications=[{"ResourceType": "security-group",
                                "Tags": [{"Key": "uid", "Value": name}, {"Key": f"only-{name}", "Value": "1"}]}],
        )["GroupId"]
    bare = ec2.create_security_group(GroupName="tags-bare", Description="tags", VpcId=vpc)["GroupId"]

    described = ec2.describe_security_groups(GroupIds=[*groups.values(), bare])["SecurityGroups"]
    tags = {g["GroupId"]: {t["Key"]: t["Value"] for t in g.get("Tags", [])} for g in described}
    for name, group in groups.items():
        assert tags[group] == {"uid": name, f"only-{name}": "1"}
    assert tags[bare] == {}

    by_uid = ec2.describe_security_groups(Filters=[{"Name": "tag:uid", "Values": ["a"]},
                                                   {"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]
    assert [g["GroupId"] for g in by_uid] == [groups["a"]]
    by_key = ec2.describe_security_groups(Filters=[{"Name": "tag-key", "Values": ["only-b"]}])["SecurityGroups"]
    assert [g["GroupId"] for g in by_key] == [groups["b"]]

    ec2.delete_tags(Resources=[groups["ab"]], Tags=[{"Key": "only-ab"}])
    (after,) = ec2.describe_security_groups(GroupIds=[groups["ab"]])["SecurityGroups"]
    assert {t["Key"] for t in after["Tags"]} == {"uid"}
