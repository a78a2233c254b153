"""Spoken schedules ("每天早上九点播报日志", "工作日八点半提醒我看告警", "取消九点的播报"): stored, run by APScheduler,
announced on the owner's robot at the time."""
