// zh-CN first; English is a switch for the few who need it. Messages from
// the backend come in both languages already.
export const lang = $state({ en: false });

const en: Record<string, string> = {
  '证书业务自助受理': 'Certificate service self-service',
  '请选择证书机构': 'Choose the certificate authority',
  '吊销原因': 'Reason for the revocation',
  '请选择': 'Choose',
  '请选择业务类型': 'Choose the operation',
  '应用项目': 'Project',
  '所需材料': 'Materials to bring',
  '办理费用': 'Fee',
  '合计': 'Total',
  '下一步：填写申请表': 'Next: fill in the application',
  '返回': 'Back',
  '使用本单位上次填写的信息？': 'Use what your company gave last time?',
  '本单位上次在本站办理时填写的信息如下，是否填入？身份证号和电话请重新填写。':
    'Last time at this counter your company gave the following. Fill it in? ID numbers and phone numbers are asked again.',
  '不用，我自己填': 'No, I will type it',
  '使用证书上的单位信息？': 'Use the company on the certificate?',
  '介质上的证书属于以下单位，是否填入？身份证号和电话请重新填写。':
    'The certificate on the key belongs to the company below. Fill it in? ID numbers and phone numbers are asked again.',
  '扫描营业执照二维码': 'Scan the business licence QR code',
  '扫营业执照二维码': 'Scan licence QR',
  '拍照识别': 'Photograph it',
  '请将营业执照右上角的二维码对准扫码枪，统一社会信用代码将自动填入。':
    'Hold the QR code at the top right of the business licence to the scanner; the unified social credit code is filled in.',
  '扫码枪输入': 'Scanner input',
  '取消': 'Cancel',
  '填入': 'Fill in',
  '空格': 'Space',
  '完成': 'Done',
  '退格': 'Backspace',
  '屏幕键盘': 'On-screen keyboard',
  '重新开始': 'Start over',
  '读取证书': 'Read certificate',
  '提交申请': 'Submit',
  '打印申请表': 'Print application form',
  '打印印章采样表': 'Print seal sample sheet',
  '您的排队号': 'Your queue number',
  '订单号': 'Order number',
  '柜台受理（工作人员）': 'Counter (staff)',
  '登录': 'Log in',
  '退出登录': 'Log out',
  '账号': 'Account',
  '密码': 'Password',
  '待办订单': 'Orders',
  '打开': 'Open',
  '日报': 'Day report',
  '上次同步': 'Last sync',
  '待同步': 'Pending',
  '重要提示': 'Important',
  '年限': 'Years',
  '确定': 'OK',
  '清除': 'Clear',
  // The application form
  '数字证书申请表': 'Certificate application',
  '单位名称': 'Company name',
  '统一社会信用代码': 'Unified social credit code',
  '法人代表': 'Legal representative',
  '法人身份证号': "Legal representative's ID number",
  '联系电话': 'Contact phone',
  '办公电话': 'Office phone',
  '经办人': 'Handler',
  '经办人身份证号': "Handler's ID number",
  '手机号码': 'Mobile number',
  '邮箱': 'E-mail',
  '邮寄地址': 'Mailing address',
  '本单位已阅读并同意《数字证书服务协议》，所填信息真实有效':
    'We have read and accept the certificate service agreement; the details given are true',
  // Materials
  '原件': 'original',
  '复印件': 'photocopy',
  '加盖公章': 'company seal',
  '手写签名': 'signed by hand',
  '年': 'years',
  '至': 'to',
  '证书序列号': 'Certificate serial',
  '证书到期日': 'Expires on',
  '签发机构': 'Issued by',
  '已验证': 'verified',
  '更新后有效期': 'Valid after renewal',
  '请将要更新的证书介质（U盾）插入读卡口，然后点“读取证书”。':
    'Insert the key (USB token) to renew, then tap "Read certificate".',
  '如介质在手，请插入读卡口并点“读取证书”，证书信息将自动填入申请。':
    'If you have the key with you, insert it and tap "Read certificate": its details go into the application.',
  '如已使用原证书加密投标文件且尚未开标，请勿办理本业务：更新或变更后的证书无法解密更新前制作的投标文件。请在开标后再来办理。':
    'If bids were encrypted with the current certificate and are not yet opened, do not go ahead: the renewed or changed certificate cannot decrypt them. Come back after the bids are opened.',
  '请打印申请表和印章采样表，加盖单位公章、经办人签字后，携带所需材料到柜台办理。':
    'Print the application form and the seal sample sheet, stamp them with the company seal, have the handler sign, and bring them with the materials to the counter.',
};

// Operation names by their catalog id (the catalog's labels are Chinese).
const operations: Record<string, string> = {
  new: 'New certificate',
  renew: 'Renewal',
  change: 'Change of details',
  'replace-lost': 'Replacement (lost key)',
  'replace-damaged': 'Replacement (damaged key)',
  unlock: 'PIN unlock',
  revoke: 'Revocation',
  upgrade: 'Algorithm upgrade',
};

export function t(zh: string): string {
  return lang.en ? (en[zh] ?? zh) : zh;
}

/** The colon after a label: full width in Chinese. */
export function colon(): string {
  return lang.en ? ': ' : '：';
}

/** How many copies of a paper to bring. */
export function copies(n: number): string {
  if (!lang.en) return `${n} 份`;
  return n === 1 ? '1 copy' : `${n} copies`;
}

/** A text the backend sends in both languages. */
export function tr(zh: string, english: string): string {
  return lang.en && english ? english : zh;
}

/** An operation's name: the catalog's label, or its English name. */
export function opName(operation: string, label: string): string {
  return lang.en ? (operations[operation] ?? label) : label;
}
