// Chinese by default, English on the switch; the choice is kept in localStorage.
const DICT = {
  "app.title": ["小智运维控制台", "xiaozhi-ops console"],
  "login.token": ["管理令牌", "Admin token"],
  "login.submit": ["登录", "Log in"],
  "login.hint": ["令牌在首次启动时打印，保存在数据目录的 admin.token 中。", "The token is printed at first start and kept in admin.token under the data directory."],
  "login.wrong": ["令牌错误", "Wrong token"],
  "login.slow": ["失败次数过多，请稍后再试", "Too many failed logins; try again later"],
  "nav.today": ["今日", "Today"], "nav.cases": ["告警与工单", "Alerts & cases"], "nav.owners": ["负责人", "Owners"],
  "nav.devices": ["设备", "Devices"], "nav.notify": ["静默与通道", "Silences & channels"], "nav.system": ["系统", "System"],
  "nav.logout": ["退出", "Log out"],
  "common.owner": ["负责人", "Owner"], "common.day": ["日期", "Day"], "common.nodata": ["没有数据", "No data"],
  "common.save": ["保存", "Save"], "common.delete": ["删除", "Delete"], "common.status": ["状态", "Status"],
  "common.severity": ["级别", "Severity"], "common.title": ["标题", "Title"], "common.error": ["出错", "Error"],
  "common.unavailable": ["暂不可用", "Not available"], "common.refresh": ["刷新", "Refresh"],
  "today.summary": ["今日播报", "Spoken summary"], "today.play": ["播放", "Play"],
  "today.kinds": ["各类发现", "Findings by kind"], "today.errors": ["每小时错误数（按工作负载）", "Errors per hour per workload"],
  "today.top": ["高频模板", "Top templates"], "today.new": ["新模板", "New templates"],
  "today.audit": ["审计变更时间线", "Audit changes timeline"], "today.incidents": ["事件与因果链", "Incidents and causal chains"],
  "today.evidence": ["证据", "Evidence"], "today.fix": ["建议", "Fix"], "today.nologs": ["这一天没有读到任何日志——不是一切正常。", "Not one log line was read for this day — this is not an all-clear."],
  "cases.filter": ["筛选", "Filter"], "cases.all": ["全部", "All"], "cases.ack": ["确认收到", "Acknowledge"],
  "cases.snooze": ["稍后提醒（分钟）", "Snooze (minutes)"], "cases.decline": ["拒绝方案", "Decline"], "cases.park": ["搁置", "Park"],
  "cases.plan": ["处置方案", "Plan"], "cases.timeline": ["时间线", "Timeline"], "cases.deliveries": ["送达记录", "Deliveries"],
  "cases.chain": ["因果链与证据", "Causal chain and evidence"], "cases.acked": ["已确认", "Acknowledged"],
  "cases.approval": ["执行操作的批准只能通过声纹 + 口头挑战在机器人上完成，控制台不能批准。", "Approving an action stays voiceprint + spoken challenge on the robot; the console cannot approve."],
  "cases.reason": ["原因", "Reason"], "cases.none": ["没有工单", "No cases"],
  "owners.name": ["名字", "Name"], "owners.add": ["添加负责人", "Add owner"], "owners.keys": ["腾讯云密钥", "Tencent keys"],
  "owners.bind": ["绑定/轮换密钥", "Bind / rotate keys"], "owners.voice": ["声纹", "Voiceprint"], "owners.enrolled": ["已录入", "Enrolled"],
  "owners.notenrolled": ["未录入", "Not enrolled"], "owners.upload": ["上传 WAV（至少 3 段）", "Upload WAVs (3 or more)"],
  "owners.record": ["用麦克风录一段", "Record a clip"], "owners.check": ["质量检查", "Quality check"], "owners.enrol": ["保存声纹", "Save voiceprint"],
  "owners.probe": ["测试存储桶（列出这一天会读取的日志）", "Test the bucket (what a day would read)"],
  "owners.reachable": ["可以访问", "Reachable"], "owners.unreachable": ["无法访问", "Not reachable"],
  "owners.delvoice": ["删除声纹", "Delete voiceprint"], "owners.masked": ["只显示掩码，不回显", "Masked; never shown back"],
  "devices.online": ["在线", "Online"], "devices.offline": ["离线", "Offline"], "devices.transport": ["传输", "Transport"],
  "devices.firmware": ["固件", "Firmware"], "devices.lastseen": ["最后在线", "Last seen"], "devices.announce": ["测试播报", "Test announcement"],
  "devices.none": ["没有设备", "No devices"], "devices.status": ["设备状态", "Device status"], "devices.volume": ["设置音量", "Set volume"],
  "notify.silences": ["静默", "Silences"], "notify.channels": ["通道", "Channels"], "notify.schedules": ["计划任务", "Schedules"],
  "notify.noschedules": ["计划任务暂不可用（服务未接入）；夜间分析按配置的 cron 运行", "Schedules are not available (not wired); the nightly run follows the configured cron"],
  "notify.broadcast": ["播报日志", "Read the log summary"], "notify.review": ["提醒看告警", "Remind to review alerts"],
  "notify.add": ["新建", "Add"], "notify.test": ["发送测试", "Send test"], "notify.matchers": ["匹配（key=value，逗号分隔）", "Matchers (key=value, comma separated)"],
  "notify.hours": ["时长（小时）", "Duration (hours)"], "notify.comment": ["备注", "Comment"], "notify.kind": ["类型", "Kind"],
  "system.health": ["健康", "Health"], "system.versions": ["版本", "Versions"], "system.fallbacks": ["降级", "Fallbacks"],
  "system.metrics": ["指标", "Metrics"], "system.runs": ["最近的夜间分析", "Last nightly runs"],
};
let lang = localStorage.getItem("xops.lang") === "en" ? 1 : 0;
export function t(key) { const v = DICT[key]; return v ? v[lang] : key; }
export function isEnglish() { return lang === 1; }
export function applyI18n(root = document) {
  document.documentElement.lang = lang ? "en" : "zh-CN";
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  const sw = document.getElementById("lang-switch");
  if (sw) sw.textContent = lang ? "中文" : "English";
}
export function toggleLanguage() { lang = 1 - lang; localStorage.setItem("xops.lang", lang ? "en" : "zh"); }
