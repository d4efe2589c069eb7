"""How bad a finding is, from worst: an error, a truncation or rounding slip, a number that depends on how it
is read, a quoted cost that our build of the cited model does not reproduce while nothing read here shows the
quotation wrong (the source's own count unread, or equal to the quote), a sentence nothing here can check."""

ERROR, SLIP, READING, QUOTED, UNCHECKED = "error", "slip", "reading", "quoted", "unchecked"
SEVERITIES = {ERROR: "error", SLIP: "truncation or rounding slip", READING: "depends on reading",
              QUOTED: "quoted cost not reproduced", UNCHECKED: "cannot be checked"}
CANNOT_CHECK = "cannot be checked"  # the cause of a sentence no table or measurement here can check
