"""How bad a finding is, from worst: an error, a truncation or rounding slip, a number that depends on how it
is read, a sentence nothing here can check."""

ERROR, SLIP, READING, UNCHECKED = "error", "slip", "reading", "unchecked"
SEVERITIES = {ERROR: "error", SLIP: "truncation or rounding slip", READING: "depends on reading",
              UNCHECKED: "cannot be checked"}
CANNOT_CHECK = "cannot be checked"  # the cause of a sentence no table or measurement here can check
